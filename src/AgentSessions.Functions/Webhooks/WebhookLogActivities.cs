using System.Text;
using Microsoft.Azure.Functions.Worker;

namespace AgentSessions.Functions.Webhooks;

/// <summary>The dispatcher's writes to the delivery log other than attempts (those are written by <see cref="DeliverWebhookActivity"/>).</summary>
public sealed class WebhookLogActivities(IWebhookDeliveryLog log)
{
    public const string RecordEventsName = "RecordWebhookEvents";
    public const string DeleteLogName = "DeleteWebhookLog";

    /// <summary>Lists events that have no attempt yet (queued behind an outage) or will never have one (abandoned after a 410).</summary>
    [Function(RecordEventsName)]
    public Task RecordEventsAsync([ActivityTrigger] WebhookLogBatch batch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(batch);
        var entries = batch.Events.Select(Entry).ToList();
        return log.RecordEventsAsync(batch.SessionKey, entries, batch.State, cancellationToken);
    }

    /// <summary>The session is deleted and its last event is final: nothing will read its log again.</summary>
    [Function(DeleteLogName)]
    public Task DeleteLogAsync([ActivityTrigger] string sessionKey, CancellationToken cancellationToken) =>
        log.DeleteSessionAsync(sessionKey, cancellationToken);

    public static WebhookLogEntry Entry(QueuedWebhook queued)
    {
        ArgumentNullException.ThrowIfNull(queued);
        var eventId = WebhookEventIds.Format(queued.Event.SessionId, queued.Sequence);
        return new WebhookLogEntry(queued.Sequence, eventId, queued.Event.Event, queued.Event.Timestamp, queued.ReceivedAt,
            Encoding.UTF8.GetString(WebhookBody.Serialize(queued.Event, eventId)));
    }
}
