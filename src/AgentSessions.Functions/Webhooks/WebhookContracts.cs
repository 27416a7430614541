using System.Collections.Immutable;
using System.Globalization;
using System.Text.Json;

namespace AgentSessions.Functions.Webhooks;

/// <summary>
/// One webhook event as it travels from the session orchestration to its dispatcher (in the
/// <see cref="WebhookDispatch.EventName"/> external event) and on to the delivery activity.
/// On the wire it becomes <c>{"event_id","event","timestamp","session_id","data"}</c> (see <see cref="WebhookBody"/>).
/// A lasting contract: change only additively.
/// </summary>
/// <param name="Event">One of <see cref="WebhookEventNames"/>.</param>
/// <param name="Timestamp">When it happened (the orchestration's current time); written as ISO-8601 UTC with milliseconds.</param>
/// <param name="SessionId">The public session id (not the owner-qualified instance id).</param>
/// <param name="Data">Event-specific payload; an object. Never leave it <c>default</c>.</param>
/// <param name="Key">
/// The sender's replay-safe unique key for this event (e.g. the orchestration's <c>NewGuid</c>). Durable delivers events at
/// least once; a second copy with the same key is dropped, so it is never delivered as a new event under another id.
/// </param>
public sealed record WebhookEvent(string Event, DateTimeOffset Timestamp, string SessionId, JsonElement Data, string? Key = null);

/// <summary>The event names the sessions API sends.</summary>
public static class WebhookEventNames
{
    public const string SessionCreated = "session.created";
    public const string SessionStatusChanged = "session.status_changed";
    public const string TaskStarted = "task.started";
    public const string TaskDone = "task.done";
    public const string TaskQuestion = "task.question";
    public const string TaskError = "task.error";

    /// <summary>The last event of a session: its dispatcher completes once it is delivered or given up.</summary>
    public const string SessionDeleted = "session.deleted";
}

/// <summary>The states of an event in the delivery log.</summary>
public static class WebhookStates
{
    /// <summary>Received, not yet delivered: queued behind earlier events or waiting for its next attempt.</summary>
    public const string Pending = "pending";

    /// <summary>A 2xx was received.</summary>
    public const string Delivered = "delivered";

    /// <summary>Given up: the retry window ended, the receiver answered a 4xx that is not retried (410 included), or the URL is refused.</summary>
    public const string Failed = "failed";

    /// <summary>Never sent (or no longer retried) because the receiver answered 410 Gone for an earlier event of the session.</summary>
    public const string Abandoned = "abandoned";
}

/// <summary>What became of one delivery attempt, as the dispatcher acts on it.</summary>
public static class WebhookOutcomes
{
    public const string Delivered = "delivered";

    /// <summary>Try again at <see cref="WebhookAttemptResult.NextAttemptAt"/>.</summary>
    public const string Retry = "retry";

    /// <summary>Given up: no later attempt can help, or the retry window is over.</summary>
    public const string Failed = "failed";

    /// <summary>410 Gone: the receiver wants no more events of this session.</summary>
    public const string Gone = "gone";
}

/// <summary>
/// The dispatcher's input, for the first generation and every ContinueAsNew after it. It carries the whole
/// delivery state (queue, the head event's attempts and next attempt time, stop flag), so a generation can end
/// in the middle of an outage and the next one carries on exactly where it was.
/// </summary>
/// <param name="Url">The session's <c>webhook_url</c>.</param>
/// <param name="Pending">Events that arrived but were never numbered (inputs written before <paramref name="Queue"/> existed).</param>
/// <param name="Sequence">How many events this dispatcher has numbered so far, over all generations (the basis of the event id).</param>
/// <param name="Schedule">The retry schedule, fixed when the dispatcher starts; null means <see cref="WebhookRetrySchedule.Default"/>.</param>
/// <param name="Queue">Numbered events not yet final, oldest (the one being delivered) first.</param>
/// <param name="Redeliveries">Redelivery requests taken but not yet carried out.</param>
/// <param name="RecentKeys">The last <see cref="WebhookDispatcherOrchestration.MaxRecentKeys"/> sender keys, to drop duplicated events.</param>
/// <param name="RecordedThrough">Every event up to this number has a row in the delivery log.</param>
/// <param name="Stopped">The receiver answered 410 Gone: events are recorded as abandoned, not sent.</param>
/// <param name="Ending"><see cref="WebhookEventNames.SessionDeleted"/> has been taken: later events are dropped.</param>
/// <param name="OperationsPerGeneration">Activities, timers and events one generation takes before it continues as new.</param>
public sealed record WebhookDispatcherInput(
    string Url,
    ImmutableList<WebhookEvent> Pending,
    int Generation,
    long Sequence = 0,
    WebhookRetrySchedule? Schedule = null,
    ImmutableList<QueuedWebhook>? Queue = null,
    ImmutableList<WebhookRedelivery>? Redeliveries = null,
    ImmutableList<string>? RecentKeys = null,
    long RecordedThrough = 0,
    bool Stopped = false,
    bool Ending = false,
    int OperationsPerGeneration = WebhookDispatcherOrchestration.DefaultOperationsPerGeneration);

/// <summary>A numbered event in the dispatcher's queue, with its delivery progress.</summary>
/// <param name="ReceivedAt">When the dispatcher took it: the retry window counts from here.</param>
/// <param name="Attempts">Attempts made so far.</param>
/// <param name="NextAttemptAt">Null: attempt as soon as it is first in the queue.</param>
/// <param name="RedeliveryId">Set when a user asked to redeliver it while it waited: the next attempt is marked as theirs.</param>
public sealed record QueuedWebhook(
    long Sequence, WebhookEvent Event, DateTimeOffset ReceivedAt, int Attempts = 0, DateTimeOffset? NextAttemptAt = null, string? RedeliveryId = null);

/// <summary>
/// A user's request to send one logged event again (the <see cref="WebhookDispatch.RedeliverEventName"/> external event).
/// It carries the exact body that was sent, so the receiver sees the same bytes and the same event id.
/// </summary>
public sealed record WebhookRedelivery(long Sequence, string EventId, string EventName, string Body, string RedeliveryId);

/// <summary>The delivery activity's input: one attempt of one event.</summary>
/// <param name="SessionKey">The session's instance id (<c>owner:uuid</c>): the delivery log's partition.</param>
/// <param name="EventId">Sent as <c>X-Webhook-Id</c> and as <c>event_id</c> in the body; the same on every attempt and redelivery.</param>
/// <param name="Event">The event (a scheduled attempt); the body is made from it.</param>
/// <param name="Body">The exact body to send (a redelivery of an event that is no longer queued).</param>
/// <param name="Attempt">The attempt's number (1 for the first); 0 for a redelivery, numbered by the log.</param>
/// <param name="Schedule">Decides what a failure means; null for a redelivery, which is one attempt only.</param>
public sealed record WebhookAttemptRequest(
    string SessionKey,
    string Url,
    long Sequence,
    string EventId,
    string EventName,
    WebhookEvent? Event,
    string? Body,
    int Attempt,
    DateTimeOffset ReceivedAt,
    WebhookRetrySchedule? Schedule,
    string? RedeliveryId = null);

/// <summary>What one attempt came to, already decided by <see cref="WebhookRetrySchedule.Decide"/>.</summary>
/// <param name="Outcome">One of <see cref="WebhookOutcomes"/>.</param>
/// <param name="StatusCode">The receiver's answer; null when there was none (timeout, connection error, refused URL).</param>
public sealed record WebhookAttemptResult(string Outcome, int? StatusCode, string? Error, DateTimeOffset? NextAttemptAt);

/// <summary>Input of <see cref="WebhookLogActivities.RecordEventsName"/>: events to list in the log without an attempt.</summary>
/// <param name="State"><see cref="WebhookStates.Pending"/> (queued behind an outage) or <see cref="WebhookStates.Abandoned"/>.</param>
public sealed record WebhookLogBatch(string SessionKey, ImmutableList<QueuedWebhook> Events, string State);

/// <summary>What the dispatcher publishes as its custom status: small and bounded, read by the delivery-log endpoint.</summary>
public sealed record WebhookDispatcherStatus(int Queued, DateTimeOffset? NextAttemptAt, bool Stopped, long LastEventNumber);

/// <summary>Event ids: <c>&lt;session id&gt;-&lt;n&gt;</c>, the n-th event of the session.</summary>
public static class WebhookEventIds
{
    public static string Format(string sessionId, long sequence) => sessionId + "-" + sequence.ToString(CultureInfo.InvariantCulture);

    /// <summary>The event number of <paramref name="eventId"/> if it names an event of <paramref name="sessionId"/>.</summary>
    public static bool TryParse(string sessionId, string? eventId, out long sequence)
    {
        sequence = 0;
        return eventId is not null
            && eventId.Length > sessionId.Length + 1
            && eventId.StartsWith(sessionId, StringComparison.Ordinal)
            && eventId[sessionId.Length] == '-'
            && long.TryParse(eventId.AsSpan(sessionId.Length + 1), NumberStyles.None, CultureInfo.InvariantCulture, out sequence)
            && sequence >= 1;
    }
}
