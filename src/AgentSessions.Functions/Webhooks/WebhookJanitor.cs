using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Webhooks;

/// <summary>What one sweep did.</summary>
/// <param name="Purged">Finished dispatchers of deleted sessions purged, with their delivery log.</param>
/// <param name="Ended">Dispatchers of sessions that no longer exist sent <c>session.deleted</c>, so they finish.</param>
public sealed record WebhookSweep(int Purged, int Ended);

/// <summary>
/// Purges what deletes leave behind: a dispatcher still retrying when its session was deleted (the receiver was away)
/// finishes later, and nobody is waiting to purge it then. Every few minutes this purges finished dispatchers whose
/// session is gone, with their log rows, and sends <c>session.deleted</c> to live ones whose session is gone (a create that
/// failed after starting its dispatcher, a delete that died half-way), so they finish too.
/// </summary>
public sealed class WebhookJanitor(IWebhookDeliveryLog log, TimeProvider time, ILogger<WebhookJanitor> logger)
{
    public const string FunctionName = "WebhookJanitor";

    /// <summary>Every 5 minutes (NCRONTAB with seconds).</summary>
    public const string Schedule = "0 */5 * * * *";

    /// <summary>A create starts the dispatcher just before the session; a dispatcher this old without a session is an orphan.</summary>
    public static readonly TimeSpan OrphanAfter = TimeSpan.FromMinutes(10);

    /// <summary>Bounds one run; the next run takes the rest.</summary>
    public const int MaxPerSweep = 1000;

    [Function(FunctionName)]
    public async Task RunAsync([TimerTrigger(Schedule)] TimerInfo timer, [DurableClient] DurableTaskClient client, CancellationToken cancellationToken)
    {
        var sweep = await SweepAsync(client, cancellationToken);
        if (sweep.Purged + sweep.Ended > 0)
        {
            logger.LogInformation("Webhook janitor purged {Purged} finished dispatchers and ended {Ended} orphaned ones.", sweep.Purged, sweep.Ended);
        }
    }

    public async Task<WebhookSweep> SweepAsync(DurableTaskClient client, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        var dispatchers = new List<OrchestrationMetadata>();
        var query = new OrchestrationQuery { InstanceIdPrefix = WebhookDispatch.InstancePrefix, PageSize = 100 };
        await foreach (var metadata in client.GetAllInstancesAsync(query).WithCancellation(cancellationToken))
        {
            if (metadata.InstanceId.StartsWith(WebhookDispatch.InstancePrefix, StringComparison.Ordinal))
            {
                dispatchers.Add(metadata);
            }

            if (dispatchers.Count >= MaxPerSweep)
            {
                break;
            }
        }

        var now = time.GetUtcNow();
        int purged = 0, ended = 0;
        foreach (var dispatcher in dispatchers)
        {
            if (!dispatcher.IsCompleted && dispatcher.CreatedAt > now - OrphanAfter)
            {
                continue;
            }

            // While the session exists its own delete does this (and a second delete finishes a half-done one).
            var sessionKey = WebhookDispatch.SessionKeyOf(dispatcher.InstanceId);
            if (await client.GetInstanceAsync(sessionKey, getInputsAndOutputs: false, cancellationToken) is not null)
            {
                continue;
            }

            if (dispatcher.IsCompleted)
            {
                // Log first: if this run dies in between, the next one still finds the instance and finishes.
                await log.DeleteSessionAsync(sessionKey, cancellationToken);
                await client.PurgeInstanceAsync(dispatcher.InstanceId, cancellationToken);
                purged++;
            }
            else
            {
                await WebhookDispatch.SendDeletedAsync(client, dispatcher.InstanceId, now, cancellationToken);
                ended++;
            }
        }

        return new WebhookSweep(purged, ended);
    }
}
