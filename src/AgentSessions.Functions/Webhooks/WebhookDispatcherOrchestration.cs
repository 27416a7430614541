using System.Collections.Immutable;
using System.Text.Json;
using Microsoft.DurableTask;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Webhooks;

/// <summary>
/// One session's webhook dispatcher. It numbers the session's events as they arrive (the event id) and delivers them one at
/// a time, in order: an event is not sent before the one ahead of it is delivered or given up. A failed attempt waits on a
/// durable timer for the next one on the <see cref="WebhookRetrySchedule"/>, so an outage of hours costs a timer, not a
/// thread; events arriving meanwhile are queued and listed in the delivery log. A 410 Gone stops deliveries for the session
/// (later events are abandoned) until a redelivery succeeds. Users' redeliveries are taken at any time, also during a wait.
/// Nothing here fails the dispatcher, and the session never waits for it (it only sends events).
/// </summary>
/// <remarks>
/// The whole delivery state travels in <see cref="WebhookDispatcherInput"/>, so the dispatcher continues as new after
/// <see cref="WebhookDispatcherInput.OperationsPerGeneration"/> activities, timers and events, at any point, outage or not:
/// its history stays bounded however long the receiver is away. It completes once <see cref="WebhookEventNames.SessionDeleted"/>
/// is final, after removing the session's delivery log; the delete (or the janitor) then purges its instance.
/// </remarks>
public static class WebhookDispatcherOrchestration
{
    public const string Name = "WebhookDispatcher";

    /// <summary>About two history events per operation: some 130 events per generation.</summary>
    public const int DefaultOperationsPerGeneration = 64;

    /// <summary>Duplicated events arrive close to the original; this many keys reach far enough back.</summary>
    public const int MaxRecentKeys = 100;

    /// <summary>Events listed in the log by one activity call.</summary>
    private const int RecordBatchSize = 50;

    /// <summary>More than any burst a session could send between two episodes.</summary>
    private const int MaxDrainedEvents = 100_000;

    /// <summary>
    /// An attempt returns its outcome instead of throwing, so this only covers the activity not running at all (a worker
    /// lost mid-call); the schedule handles failed deliveries.
    /// </summary>
    private static readonly TaskOptions AttemptRetry = TaskOptions.FromRetryPolicy(new RetryPolicy(
        maxNumberOfAttempts: 3, firstRetryInterval: TimeSpan.FromSeconds(1), backoffCoefficient: 2, maxRetryInterval: TimeSpan.FromSeconds(10)));

    /// <summary>The log's own writes: storage may be briefly away.</summary>
    private static readonly TaskOptions LogRetry = TaskOptions.FromRetryPolicy(new RetryPolicy(
        maxNumberOfAttempts: 5, firstRetryInterval: TimeSpan.FromSeconds(1), backoffCoefficient: 2, maxRetryInterval: TimeSpan.FromSeconds(30)));

    public static Task RunAsync(TaskOrchestrationContext context, WebhookDispatcherInput input)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(input);
        return new Loop(context, input).RunAsync();
    }

    private sealed class Loop(TaskOrchestrationContext context, WebhookDispatcherInput input)
    {
        private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

        private readonly WebhookRetrySchedule schedule = input.Schedule ?? WebhookRetrySchedule.Default;
        private readonly string sessionKey = WebhookDispatch.SessionKeyOf(context.InstanceId);
        private readonly LinkedList<QueuedWebhook> queue = new(input.Queue ?? []);
        private readonly Queue<WebhookRedelivery> redeliveries = new(input.Redeliveries ?? []);
        private readonly List<string> recentKeys = [.. input.RecentKeys ?? []];
        private readonly int operationsPerGeneration = Math.Max(8, input.OperationsPerGeneration);
        private long sequence = input.Sequence;
        private long recordedThrough = input.RecordedThrough;
        private bool stopped = input.Stopped;
        private bool ending = input.Ending;
        private int operations;

        // Kept until they fire, as in the session orchestration: a waiter dropped after losing a WhenAny would
        // still take (and lose) the next event, so there is only ever one of each, reused.
        private Task<WebhookEvent>? eventWait;
        private Task<WebhookRedelivery>? redeliveryWait;
        private Task? retryTimer;
        private DateTimeOffset retryTimerAt;

        private DateTimeOffset Now => new(DateTime.SpecifyKind(context.CurrentUtcDateTime, DateTimeKind.Utc));

        public async Task RunAsync()
        {
            foreach (var unnumbered in input.Pending ?? [])
            {
                Accept(unnumbered);
            }

            while (true)
            {
                Publish();
                if (operations >= operationsPerGeneration)
                {
                    context.ContinueAsNew(NextGeneration(), preserveUnprocessedEvents: true);
                    return;
                }

                if (redeliveries.TryDequeue(out var redelivery))
                {
                    await RedeliverAsync(redelivery);
                    continue;
                }

                if (queue.First is not { } head)
                {
                    if (ending)
                    {
                        await FinishAsync();
                        return;
                    }

                    await WaitAsync(null);
                    continue;
                }

                if (stopped)
                {
                    await RecordAsync(TakeAbandoned(), WebhookStates.Abandoned);
                    continue;
                }

                if (head.Value.NextAttemptAt is { } due && due > Now)
                {
                    // Listed before the wait, so the log shows everything held up by the outage.
                    await RecordAsync([.. queue.Where(q => q.Sequence > recordedThrough).Take(RecordBatchSize)], WebhookStates.Pending);
                    await WaitAsync(due);
                    continue;
                }

                await AttemptAsync(head);
            }
        }

        /// <summary>Waits for an event, a redelivery request or, when <paramref name="due"/> is set, the next attempt's time.</summary>
        private async Task WaitAsync(DateTimeOffset? due)
        {
            eventWait ??= context.WaitForExternalEvent<WebhookEvent>(WebhookDispatch.EventName);
            redeliveryWait ??= context.WaitForExternalEvent<WebhookRedelivery>(WebhookDispatch.RedeliverEventName);
            var waits = new List<Task>(3) { eventWait, redeliveryWait };
            if (due is { } at)
            {
                if (retryTimer is null || retryTimerAt != at)
                {
                    retryTimer = context.CreateTimer(at.UtcDateTime, CancellationToken.None);
                    retryTimerAt = at;
                    operations++;
                }

                waits.Add(retryTimer);
            }

            var winner = await Task.WhenAny(waits);
            if (winner == eventWait)
            {
                var received = eventWait.Result;
                eventWait = null;
                operations++;
                Accept(received);
            }
            else if (winner == redeliveryWait)
            {
                var requested = redeliveryWait.Result;
                redeliveryWait = null;
                operations++;
                Accept(requested);
            }
            else
            {
                retryTimer = null;
            }
        }

        /// <summary>Numbers a new event and queues it; drops malformed ones, duplicates (same key) and anything after session.deleted.</summary>
        private void Accept(WebhookEvent? received)
        {
            if (received is null || string.IsNullOrEmpty(received.Event) || string.IsNullOrEmpty(received.SessionId))
            {
                context.CreateReplaySafeLogger(Name).LogWarning("Dispatcher {InstanceId} dropped a webhook event without a name or session id.", context.InstanceId);
                return;
            }

            if (ending)
            {
                context.CreateReplaySafeLogger(Name).LogInformation("Dispatcher {InstanceId} dropped {Event}: it arrived after session.deleted.", context.InstanceId, received.Event);
                return;
            }

            if (received.Key is { } key)
            {
                if (recentKeys.Contains(key))
                {
                    context.CreateReplaySafeLogger(Name).LogInformation("Dispatcher {InstanceId} dropped a second copy of {Event} ({Key}).", context.InstanceId, received.Event, key);
                    return;
                }

                recentKeys.Add(key);
                if (recentKeys.Count > MaxRecentKeys)
                {
                    recentKeys.RemoveAt(0);
                }
            }

            if (received.Data.ValueKind == JsonValueKind.Undefined)
            {
                received = received with { Data = EmptyObject };
            }

            sequence++;
            queue.AddLast(new QueuedWebhook(sequence, received, Now));
            if (received.Event == WebhookEventNames.SessionDeleted)
            {
                ending = true;
            }
        }

        /// <summary>
        /// A user's redelivery: the event being retried is tried now; one still queued goes in its turn anyway; one that is
        /// final (delivered, failed, abandoned) gets one more attempt of its own, ahead of the queue.
        /// </summary>
        private void Accept(WebhookRedelivery? requested)
        {
            if (requested is null || requested.Sequence < 1 || requested.Sequence > sequence || string.IsNullOrEmpty(requested.Body))
            {
                return;
            }

            if (queue.First is { } head && head.Value.Sequence == requested.Sequence && !stopped)
            {
                head.Value = head.Value with { NextAttemptAt = Now, RedeliveryId = requested.RedeliveryId };
            }
            else if (!queue.Any(q => q.Sequence == requested.Sequence))
            {
                redeliveries.Enqueue(requested);
            }
        }

        private async Task AttemptAsync(LinkedListNode<QueuedWebhook> node)
        {
            var item = node.Value;
            var attempt = item.Attempts + 1;
            var eventId = WebhookEventIds.Format(item.Event.SessionId, item.Sequence);
            var request = new WebhookAttemptRequest(sessionKey, input.Url, item.Sequence, eventId, item.Event.Event, item.Event, null, attempt,
                item.ReceivedAt, schedule, item.RedeliveryId);
            var result = await CallAttemptAsync(request,
                error => schedule.Decide(attempt, item.ReceivedAt, Now, null, "the attempt could not run: " + error, null));
            recordedThrough = Math.Max(recordedThrough, item.Sequence);

            if (result.Outcome == WebhookOutcomes.Retry)
            {
                node.Value = item with { Attempts = attempt, NextAttemptAt = result.NextAttemptAt ?? Now, RedeliveryId = null };
                return;
            }

            queue.RemoveFirst();
            if (result.Outcome == WebhookOutcomes.Gone)
            {
                stopped = true;
                context.CreateReplaySafeLogger(Name).LogWarning("Webhook {EventId}: the receiver answered 410 Gone; deliveries for {InstanceId} stop.", eventId, context.InstanceId);
            }
            else if (result.Outcome == WebhookOutcomes.Failed)
            {
                context.CreateReplaySafeLogger(Name).LogWarning("Webhook {EventId} ({Event}) given up after {Attempts} attempts: {Error}", eventId, item.Event.Event, attempt, result.Error);
            }
        }

        private async Task RedeliverAsync(WebhookRedelivery redelivery)
        {
            var request = new WebhookAttemptRequest(sessionKey, input.Url, redelivery.Sequence, redelivery.EventId, redelivery.EventName, null,
                redelivery.Body, 0, Now, null, redelivery.RedeliveryId);
            var result = await CallAttemptAsync(request, error => new WebhookAttemptResult(WebhookOutcomes.Failed, null, error, null));
            if (result.Outcome == WebhookOutcomes.Delivered && stopped)
            {
                // The receiver is evidently back: new events go out again (the abandoned ones stay abandoned).
                stopped = false;
                context.CreateReplaySafeLogger(Name).LogInformation("Webhook deliveries for {InstanceId} resume: redelivery of {EventId} succeeded.", context.InstanceId, redelivery.EventId);
            }
            else if (result.Outcome == WebhookOutcomes.Gone)
            {
                stopped = true;
            }
        }

        private async Task<WebhookAttemptResult> CallAttemptAsync(WebhookAttemptRequest request, Func<string, WebhookAttemptResult> whenNotRun)
        {
            operations++;
            try
            {
                return await context.CallActivityAsync<WebhookAttemptResult>(DeliverWebhookActivity.Name, request, AttemptRetry);
            }
            catch (TaskFailedException failure)
            {
                context.CreateReplaySafeLogger(Name).LogWarning("Webhook {EventId}: the delivery activity failed: {Error}", request.EventId, failure.FailureDetails.ErrorMessage);
                return whenNotRun(failure.FailureDetails.ErrorMessage);
            }
        }

        private ImmutableList<QueuedWebhook> TakeAbandoned()
        {
            var taken = ImmutableList.CreateBuilder<QueuedWebhook>();
            while (taken.Count < RecordBatchSize && queue.First is { } first)
            {
                taken.Add(first.Value);
                queue.RemoveFirst();
            }

            return taken.ToImmutable();
        }

        private async Task RecordAsync(ImmutableList<QueuedWebhook> events, string state)
        {
            if (events.IsEmpty)
            {
                return;
            }

            operations++;
            recordedThrough = Math.Max(recordedThrough, events[^1].Sequence);
            try
            {
                await context.CallActivityAsync(WebhookLogActivities.RecordEventsName, new WebhookLogBatch(sessionKey, events, state), LogRetry);
            }
            catch (TaskFailedException failure)
            {
                // Only the log misses them; delivery goes on.
                context.CreateReplaySafeLogger(Name).LogWarning("Dispatcher {InstanceId} could not list {Count} events as {State}: {Error}",
                    context.InstanceId, events.Count, state, failure.FailureDetails.ErrorMessage);
            }
        }

        /// <summary>session.deleted is final: the log goes with the session (the janitor retries if this fails).</summary>
        private async Task FinishAsync()
        {
            try
            {
                await context.CallActivityAsync(WebhookLogActivities.DeleteLogName, sessionKey, LogRetry);
            }
            catch (TaskFailedException failure)
            {
                context.CreateReplaySafeLogger(Name).LogWarning("Dispatcher {InstanceId} could not remove its delivery log: {Error}", context.InstanceId, failure.FailureDetails.ErrorMessage);
            }

            Publish();
        }

        private void Publish() =>
            context.SetCustomStatus(new WebhookDispatcherStatus(queue.Count, queue.First?.Value.NextAttemptAt, stopped, sequence));

        /// <summary>
        /// The next generation's input, carrying the whole delivery state and every event that has already arrived. Events the
        /// runtime buffered but no waiter consumed are taken here and passed on in the input, rather than trusting the runtime
        /// to carry them over ContinueAsNew.
        /// </summary>
        private WebhookDispatcherInput NextGeneration()
        {
            if (eventWait is { IsCompleted: true })
            {
                Accept(eventWait.Result);
                eventWait = null;
            }

            // A buffered event completes its waiter synchronously; the first waiter that does not complete means the
            // buffer is empty. A waiter still pending means the same already.
            for (var drained = 0; eventWait is null && drained < MaxDrainedEvents; drained++)
            {
                var buffered = context.WaitForExternalEvent<WebhookEvent>(WebhookDispatch.EventName);
                if (!buffered.IsCompleted)
                {
                    break;
                }

                Accept(buffered.Result);
            }

            if (redeliveryWait is { IsCompleted: true })
            {
                Accept(redeliveryWait.Result);
                redeliveryWait = null;
            }

            for (var drained = 0; redeliveryWait is null && drained < MaxDrainedEvents; drained++)
            {
                var buffered = context.WaitForExternalEvent<WebhookRedelivery>(WebhookDispatch.RedeliverEventName);
                if (!buffered.IsCompleted)
                {
                    break;
                }

                Accept(buffered.Result);
            }

            return input with
            {
                Pending = [],
                Generation = input.Generation + 1,
                Sequence = sequence,
                Schedule = schedule,
                Queue = [.. queue],
                Redeliveries = [.. redeliveries],
                RecentKeys = [.. recentKeys],
                RecordedThrough = recordedThrough,
                Stopped = stopped,
                Ending = ending,
            };
        }
    }
}
