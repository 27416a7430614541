using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Webhooks;

/// <summary>
/// One delivery attempt of one event: a signed POST to the session's webhook URL, bounded by
/// <see cref="WebhookOptions.DeliveryTimeout"/>. It decides what the answer means with the dispatcher's
/// <see cref="WebhookRetrySchedule"/> (so the decision is recorded in the dispatcher's history and never re-made on replay),
/// writes the attempt to the delivery log, and returns the decision. It does not throw for a failed delivery: a
/// failure is an outcome to schedule, not an error.
/// </summary>
public sealed class DeliverWebhookActivity(
    IHttpClientFactory httpClients, WebhookOptions options, IWebhookDeliveryLog log, TimeProvider time, ILogger<DeliverWebhookActivity> logger)
{
    public const string Name = "DeliverWebhook";
    public const string HttpClientName = "webhooks";

    public const string EventHeader = "X-Webhook-Event";
    public const string TimestampHeader = "X-Webhook-Timestamp";
    public const string SignatureHeader = "X-Webhook-Signature";
    public const string IdHeader = "X-Webhook-Id";
    public const string UserAgent = "AgentSessions-Webhooks/1.0";

    private readonly WebhookUrlGuard guard = new(options);

    [Function(Name)]
    public async Task<WebhookAttemptResult> RunAsync([ActivityTrigger] WebhookAttemptRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var body = request.Body ?? Encoding.UTF8.GetString(WebhookBody.Serialize(
            request.Event ?? throw new ArgumentException("An attempt needs an event or a body.", nameof(request)), request.EventId));

        var started = time.GetUtcNow();
        var sent = await SendAsync(request, Encoding.UTF8.GetBytes(body), cancellationToken);
        var finished = time.GetUtcNow();
        var result = sent switch
        {
            { Refused: true } => new WebhookAttemptResult(WebhookOutcomes.Failed, null, sent.Error, null),
            _ when request.Schedule is { } schedule => schedule.Decide(request.Attempt, request.ReceivedAt, finished, sent.Status, sent.Error, sent.RetryAfter),
            { Status: >= 200 and < 300 } => new WebhookAttemptResult(WebhookOutcomes.Delivered, sent.Status, null, null),
            { Status: 410 } => new WebhookAttemptResult(WebhookOutcomes.Gone, sent.Status, sent.Error, null),
            _ => new WebhookAttemptResult(WebhookOutcomes.Failed, sent.Status, sent.Error, null),
        };

        await RecordAsync(request, body, started, finished, result, cancellationToken);
        return result;
    }

    private async Task<Sent> SendAsync(WebhookAttemptRequest request, byte[] body, CancellationToken cancellationToken)
    {
        if (!Uri.TryCreate(request.Url, UriKind.Absolute, out var url))
        {
            return Refuse(request, "the webhook URL is not an absolute URL");
        }

        // DNS may have changed since the session was created.
        var problem = await guard.FindProblemAsync(url, cancellationToken);
        if (problem is not null)
        {
            return Refuse(request, problem);
        }

        var timestamp = time.GetUtcNow().ToUnixTimeSeconds();
        using var message = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        message.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        message.Headers.TryAddWithoutValidation("User-Agent", UserAgent);
        message.Headers.Add(EventHeader, request.EventName);
        message.Headers.Add(TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
        message.Headers.Add(SignatureHeader, WebhookSignature.Sign(options.SigningSecret!, timestamp, body));
        message.Headers.Add(IdHeader, request.EventId);

        using var attemptTimeout = new CancellationTokenSource(options.DeliveryTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, attemptTimeout.Token);
        var client = httpClients.CreateClient(HttpClientName);
        try
        {
            using var response = await client.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                logger.LogInformation("Webhook {EventId} ({Event}) delivered to {Host}: {Status}.", request.EventId, request.EventName, url.Host, status);
                return new Sent(status, null, null, false);
            }

            var error = $"{status} {response.ReasonPhrase}".TrimEnd();
            logger.LogWarning("Webhook {EventId} ({Event}) to {Host} was answered {Error}.", request.EventId, request.EventName, url.Host, error);
            return new Sent(status, error, RetryAfter(response.Headers.RetryAfter), false);
        }
        catch (OperationCanceledException) when (attemptTimeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            var error = $"no answer within {options.DeliveryTimeout.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture)} s";
            logger.LogWarning("Webhook {EventId} ({Event}) to {Host}: {Error}.", request.EventId, request.EventName, url.Host, error);
            return new Sent(null, error, null, false);
        }
        catch (HttpRequestException failure)
        {
            var error = "connection failed: " + failure.Message;
            logger.LogWarning("Webhook {EventId} ({Event}) to {Host}: {Error}.", request.EventId, request.EventName, url.Host, error);
            return new Sent(null, error, null, false);
        }
    }

    /// <summary><c>Retry-After</c> as seconds or as an HTTP date; null when absent or already past.</summary>
    private TimeSpan? RetryAfter(RetryConditionHeaderValue? header) => header switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } when date > time.GetUtcNow() => date - time.GetUtcNow(),
        _ => null,
    };

    /// <summary>
    /// The log is a record, not part of delivery: if the table cannot be written, the attempt still counts (and is not sent
    /// again just to be logged), so a storage hiccup never duplicates a delivery.
    /// </summary>
    private async Task RecordAsync(WebhookAttemptRequest request, string body, DateTimeOffset started, DateTimeOffset finished,
        WebhookAttemptResult result, CancellationToken cancellationToken)
    {
        var entry = new WebhookLogEntry(request.Sequence, request.EventId, request.EventName, request.Event?.Timestamp ?? request.ReceivedAt,
            request.ReceivedAt, body);
        var attempt = new WebhookLogAttempt(request.Attempt, started, result.StatusCode, result.Error,
            (long)(finished - started).TotalMilliseconds, request.RedeliveryId);
        var state = request.Schedule is null ? null : result.Outcome switch
        {
            WebhookOutcomes.Delivered => WebhookStates.Delivered,
            WebhookOutcomes.Retry => WebhookStates.Pending,
            _ => WebhookStates.Failed,
        };
        try
        {
            await log.RecordAttemptAsync(request.SessionKey, entry, attempt, state, result.NextAttemptAt, cancellationToken);
        }
        catch (Exception failure) when (failure is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning(failure, "Webhook {EventId}: the delivery log could not record attempt {Attempt}.", request.EventId, request.Attempt);
        }
    }

    private Sent Refuse(WebhookAttemptRequest request, string problem)
    {
        logger.LogWarning("Webhook {EventId} ({Event}) not sent: {Problem}.", request.EventId, request.EventName, problem);
        return new Sent(null, "not sent: " + problem, null, true);
    }

    private sealed record Sent(int? Status, string? Error, TimeSpan? RetryAfter, bool Refused);
}
