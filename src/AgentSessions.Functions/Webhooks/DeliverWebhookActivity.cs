using System.Globalization;
using System.Net.Http.Headers;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Webhooks;

/// <summary>
/// One delivery attempt of one event: a signed POST to the session's webhook URL. A 2xx is success; any other
/// answer, a timeout or a connection error throws, so the dispatcher's retry policy tries again. A URL that
/// may no longer be used (the SSRF guard refuses it, or webhooks were switched off) is reported as refused
/// without throwing, since retrying cannot help.
/// </summary>
public sealed class DeliverWebhookActivity(IHttpClientFactory httpClients, WebhookOptions options, TimeProvider time, ILogger<DeliverWebhookActivity> logger)
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
    public async Task<WebhookDeliveryResult> RunAsync([ActivityTrigger] WebhookDelivery delivery, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(delivery);
        if (!Uri.TryCreate(delivery.Url, UriKind.Absolute, out var url))
        {
            return Refuse(delivery, "the webhook URL is not an absolute URL");
        }

        // DNS may have changed since the session was created.
        var problem = await guard.FindProblemAsync(url, cancellationToken);
        if (problem is not null)
        {
            return Refuse(delivery, problem);
        }

        var body = WebhookBody.Serialize(delivery.Event);
        var timestamp = time.GetUtcNow().ToUnixTimeSeconds();
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.TryAddWithoutValidation("User-Agent", UserAgent);
        request.Headers.Add(EventHeader, delivery.Event.Event);
        request.Headers.Add(TimestampHeader, timestamp.ToString(CultureInfo.InvariantCulture));
        request.Headers.Add(SignatureHeader, WebhookSignature.Sign(options.SigningSecret!, timestamp, body));
        request.Headers.Add(IdHeader, delivery.DeliveryId);

        using var attemptTimeout = new CancellationTokenSource(options.DeliveryTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, attemptTimeout.Token);
        var client = httpClients.CreateClient(HttpClientName);
        try
        {
            using var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token);
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                logger.LogInformation("Webhook {DeliveryId} ({Event}) delivered to {Host}: {Status}.",
                    delivery.DeliveryId, delivery.Event.Event, url.Host, status);
                return WebhookDeliveryResult.Success(status);
            }

            throw new WebhookDeliveryException($"Webhook {delivery.DeliveryId} ({delivery.Event.Event}) to {url.Host} was answered {status} {response.ReasonPhrase}.");
        }
        catch (OperationCanceledException) when (attemptTimeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new WebhookDeliveryException(
                $"Webhook {delivery.DeliveryId} ({delivery.Event.Event}) to {url.Host} got no answer within {options.DeliveryTimeout.TotalSeconds:0.###} s.");
        }
        catch (HttpRequestException failure)
        {
            throw new WebhookDeliveryException(
                $"Webhook {delivery.DeliveryId} ({delivery.Event.Event}) to {url.Host} failed: {failure.Message}", failure);
        }
    }

    private WebhookDeliveryResult Refuse(WebhookDelivery delivery, string problem)
    {
        logger.LogWarning("Webhook {DeliveryId} ({Event}) not sent: {Problem}.", delivery.DeliveryId, delivery.Event.Event, problem);
        return WebhookDeliveryResult.Refused(problem);
    }
}

/// <summary>A delivery attempt that failed in a way a later attempt may not: the retry policy tries again.</summary>
public sealed class WebhookDeliveryException : Exception
{
    public WebhookDeliveryException(string message)
        : base(message)
    {
    }

    public WebhookDeliveryException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
