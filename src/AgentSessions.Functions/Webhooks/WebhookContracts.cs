using System.Collections.Immutable;
using System.Text.Json;

namespace AgentSessions.Functions.Webhooks;

/// <summary>
/// One webhook event as it travels from the session orchestration to its dispatcher (in the
/// <see cref="WebhookDispatch.EventName"/> external event) and on to the delivery activity.
/// On the wire it becomes <c>{"event","timestamp","session_id","data"}</c> (see <see cref="WebhookBody"/>).
/// A lasting contract: change only additively.
/// </summary>
/// <param name="Event">One of <see cref="WebhookEventNames"/>.</param>
/// <param name="Timestamp">When it happened (the orchestration's current time); written as ISO-8601 UTC with milliseconds.</param>
/// <param name="SessionId">The public session id (not the owner-qualified instance id).</param>
/// <param name="Data">Event-specific payload; an object. Never leave it <c>default</c>.</param>
public sealed record WebhookEvent(string Event, DateTimeOffset Timestamp, string SessionId, JsonElement Data);

/// <summary>The event names the sessions API sends.</summary>
public static class WebhookEventNames
{
    public const string SessionCreated = "session.created";
    public const string SessionStatusChanged = "session.status_changed";
    public const string TaskStarted = "task.started";
    public const string TaskDone = "task.done";
    public const string TaskQuestion = "task.question";
    public const string TaskError = "task.error";

    /// <summary>The last event of a session: its dispatcher completes after delivering it.</summary>
    public const string SessionDeleted = "session.deleted";
}

/// <summary>How the dispatcher retries one delivery; fixed when the dispatcher starts, so replays never see a changed value.</summary>
/// <param name="MaxAttempts">First attempt plus retries.</param>
public sealed record WebhookRetrySettings(int MaxAttempts, TimeSpan FirstRetryInterval, double BackoffCoefficient, TimeSpan MaxRetryInterval)
{
    /// <summary>1 attempt + 3 retries, 2 s, 4 s, 8 s apart (capped at 30 s).</summary>
    public static WebhookRetrySettings Default { get; } = new(4, TimeSpan.FromSeconds(2), 2, TimeSpan.FromSeconds(30));
}

/// <summary>
/// The dispatcher's input, for the first generation and every ContinueAsNew after it.
/// <paramref name="Pending"/> carries events that had arrived but were not delivered when the previous
/// generation ended, so none is lost across ContinueAsNew.
/// </summary>
/// <param name="Url">The session's <c>webhook_url</c>.</param>
/// <param name="Sequence">How many events this dispatcher has taken so far, over all generations (the basis of <c>X-Webhook-Id</c>).</param>
/// <param name="Retry">Null means <see cref="WebhookRetrySettings.Default"/>.</param>
public sealed record WebhookDispatcherInput(
    string Url,
    ImmutableList<WebhookEvent> Pending,
    int Generation,
    long Sequence = 0,
    WebhookRetrySettings? Retry = null);

/// <summary>The delivery activity's input: one event, where it goes, and its stable id.</summary>
/// <param name="DeliveryId">Sent as <c>X-Webhook-Id</c>; the same on every retry of this event, so receivers can de-duplicate.</param>
public sealed record WebhookDelivery(string Url, WebhookEvent Event, string DeliveryId);

/// <summary>
/// What the delivery activity reports when it does not throw: delivered (a 2xx), or refused for good
/// (a failure no retry can fix, such as a URL that now resolves to a forbidden address).
/// Retryable failures (non-2xx, timeout, connection errors) are thrown instead, so the retry policy applies.
/// </summary>
public sealed record WebhookDeliveryResult(bool Delivered, int? StatusCode, string? Error)
{
    public static WebhookDeliveryResult Success(int statusCode) => new(true, statusCode, null);

    public static WebhookDeliveryResult Refused(string error) => new(false, null, error);
}
