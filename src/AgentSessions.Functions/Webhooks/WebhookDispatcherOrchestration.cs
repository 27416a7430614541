using System.Globalization;
using System.Text.Json;
using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Webhooks;

/// <summary>
/// One session's webhook dispatcher: takes the session's events in arrival order and delivers them one at a
/// time, each with a retry policy. A delivery that still fails is logged and skipped; nothing here ever fails
/// the dispatcher, and the session never waits for it (it only sends events). Completes after delivering
/// <see cref="WebhookEventNames.SessionDeleted"/>; continues as new every <see cref="DeliveriesPerGeneration"/> events.
/// </summary>
public static class WebhookDispatcherOrchestration
{
    public const string Name = "WebhookDispatcher";

    /// <summary>Keeps the history short: each event adds its activity (and retry timers) to it.</summary>
    public const int DeliveriesPerGeneration = 50;

    /// <summary>More than any burst a session could send between two episodes.</summary>
    private const int MaxDrainedEvents = 100_000;

    public static Task RunAsync(TaskOrchestrationContext context, WebhookDispatcherInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        return new Loop(context, input).RunAsync();
    }

    /// <summary>The retry policy for one delivery: <see cref="WebhookRetrySettings.MaxAttempts"/> attempts with exponential backoff.</summary>
    public static TaskOptions DeliveryOptions(WebhookRetrySettings retry) => TaskOptions.FromRetryPolicy(new RetryPolicy(
        maxNumberOfAttempts: retry.MaxAttempts,
        firstRetryInterval: retry.FirstRetryInterval,
        backoffCoefficient: retry.BackoffCoefficient,
        maxRetryInterval: retry.MaxRetryInterval));

    private sealed class Loop(TaskOrchestrationContext context, WebhookDispatcherInput input)
    {
        private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

        private readonly Queue<WebhookEvent> pending = new(input.Pending ?? []);
        private readonly TaskOptions deliveryOptions = DeliveryOptions(input.Retry ?? WebhookRetrySettings.Default);
        private long sequence = input.Sequence;
        private int delivered;

        // Kept until it fires, as in the session orchestration: there is only ever one waiter.
        private Task<WebhookEvent>? eventWait;

        public async Task RunAsync()
        {
            while (true)
            {
                var next = Normalize(await NextAsync());
                if (next is null)
                {
                    continue;
                }

                sequence++;
                await DeliverAsync(next, sequence);
                if (string.Equals(next.Event, WebhookEventNames.SessionDeleted, StringComparison.Ordinal))
                {
                    return;
                }

                delivered++;
                if (delivered >= DeliveriesPerGeneration)
                {
                    context.ContinueAsNew(NextGeneration(), preserveUnprocessedEvents: true);
                    return;
                }
            }
        }

        private async Task<WebhookEvent?> NextAsync()
        {
            if (pending.TryDequeue(out var queued))
            {
                return queued;
            }

            eventWait ??= context.WaitForExternalEvent<WebhookEvent>(WebhookDispatch.EventName);
            var received = await eventWait;
            eventWait = null;
            return received;
        }

        private async Task DeliverAsync(WebhookEvent webhookEvent, long number)
        {
            var delivery = new WebhookDelivery(input.Url, webhookEvent, DeliveryId(webhookEvent, number));
            try
            {
                var result = await context.CallActivityAsync<WebhookDeliveryResult>(DeliverWebhookActivity.Name, delivery, deliveryOptions);
                if (result is { Delivered: false })
                {
                    context.CreateReplaySafeLogger(Name).LogWarning("Webhook {DeliveryId} ({Event}) for dispatcher {InstanceId} was not sent: {Error}",
                        delivery.DeliveryId, webhookEvent.Event, context.InstanceId, result.Error);
                }
            }
            catch (TaskFailedException failure)
            {
                // Out of retries: the event is dropped so the ones after it still go out.
                context.CreateReplaySafeLogger(Name).LogWarning("Webhook {DeliveryId} ({Event}) for dispatcher {InstanceId} gave up: {Error}",
                    delivery.DeliveryId, webhookEvent.Event, context.InstanceId, failure.FailureDetails.ErrorMessage);
            }
        }

        /// <summary>An event missing its name or session is dropped; missing data becomes <c>{}</c>.</summary>
        private WebhookEvent? Normalize(WebhookEvent? webhookEvent)
        {
            if (webhookEvent is null || string.IsNullOrEmpty(webhookEvent.Event) || string.IsNullOrEmpty(webhookEvent.SessionId))
            {
                context.CreateReplaySafeLogger(Name).LogWarning("Dispatcher {InstanceId} dropped a webhook event without a name or session id.", context.InstanceId);
                return null;
            }

            return webhookEvent.Data.ValueKind == JsonValueKind.Undefined ? webhookEvent with { Data = EmptyObject } : webhookEvent;
        }

        /// <summary>
        /// The next generation's input, carrying every event that has already arrived. Events the runtime
        /// buffered but no waiter consumed are taken here and passed on in the input, rather than trusting
        /// the runtime to carry them over ContinueAsNew.
        /// </summary>
        private WebhookDispatcherInput NextGeneration()
        {
            var carried = new List<WebhookEvent>(pending);
            if (eventWait is { IsCompleted: true })
            {
                carried.Add(eventWait.Result);
            }

            if (eventWait is null || eventWait.IsCompleted)
            {
                // A buffered event completes its waiter synchronously; the first waiter that does not
                // complete means the buffer is empty.
                for (var drained = 0; drained < MaxDrainedEvents; drained++)
                {
                    var buffered = context.WaitForExternalEvent<WebhookEvent>(WebhookDispatch.EventName);
                    if (!buffered.IsCompleted)
                    {
                        break;
                    }

                    carried.Add(buffered.Result);
                }
            }

            return input with { Pending = [.. carried], Generation = input.Generation + 1, Sequence = sequence };
        }
    }

    /// <summary><c>&lt;session id&gt;-&lt;n&gt;</c>: the n-th event of the session, the same on every attempt.</summary>
    private static string DeliveryId(WebhookEvent webhookEvent, long number) =>
        webhookEvent.SessionId + "-" + number.ToString(CultureInfo.InvariantCulture);
}
