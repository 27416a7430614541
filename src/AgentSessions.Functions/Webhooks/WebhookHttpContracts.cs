using System.Text.Json.Serialization;

namespace AgentSessions.Functions.Webhooks;

/// <summary><c>GET /v1/sessions/{id}/webhooks</c>: the session's latest webhook events, newest first.</summary>
/// <param name="WebhookUrl">Null when the session has no webhook.</param>
/// <param name="DeliveriesStopped">The receiver answered 410 Gone: new events are abandoned until a redelivery succeeds.</param>
/// <param name="Queued">Events received and not yet delivered or given up.</param>
public sealed record WebhookLogBody(string SessionId, string? WebhookUrl, bool DeliveriesStopped, int Queued, List<WebhookEventBody> Events);

/// <param name="Timestamp">When the event happened (the body's <c>timestamp</c>).</param>
/// <param name="State"><c>pending</c>, <c>delivered</c>, <c>failed</c> or <c>abandoned</c>.</param>
/// <param name="NextAttemptAt">When a pending event is tried next; null otherwise.</param>
public sealed record WebhookEventBody(
    string EventId,
    string Event,
    string Timestamp,
    string State,
    int AttemptCount,
    string? NextAttemptAt,
    List<WebhookAttemptBody> Attempts);

/// <param name="StatusCode">The receiver's HTTP status; null when there was none (see <paramref name="Error"/>).</param>
public sealed record WebhookAttemptBody(int Attempt, string At, int? StatusCode, string? Error, long DurationMs, bool Redelivery);

/// <summary><c>POST …/webhooks/{event_id}/redeliver</c>: accepted; the attempt shows in the log when made.</summary>
public sealed record RedeliverBody(bool Success, string Message, string EventId);

/// <summary>
/// The webhook feature's wire bodies and stored attempt lists: the same options as the API's context (snake_case,
/// source-generated, nulls written). Its own context so the feature stays in its folder.
/// </summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(WebhookLogBody))]
[JsonSerializable(typeof(RedeliverBody))]
[JsonSerializable(typeof(List<WebhookLogAttempt>))]
public sealed partial class WebhookJsonContext : JsonSerializerContext;
