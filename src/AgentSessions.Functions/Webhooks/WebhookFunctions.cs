using AgentSessions.Functions.Auth;
using AgentSessions.Functions.Http;
using AgentSessions.Functions.Sessions;
using Grpc.Core;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;

namespace AgentSessions.Functions.Webhooks;

/// <summary>HTTP endpoints of a session's webhook delivery log: list its events and attempts, and redeliver one.</summary>
public sealed class WebhookFunctions(ApiKeyAuthenticator auth, SessionGatewayFactory gateways, IWebhookDeliveryLog log, WebhookOptions options)
{
    [Function("GetSessionWebhooks")]
    public async Task<IActionResult> GetAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/sessions/{sessionId}/webhooks")] HttpRequest request,
        string sessionId,
        [DurableClient] DurableTaskClient client,
        CancellationToken cancellationToken)
    {
        var owner = auth.Authenticate(request);
        var id = SessionFunctions.RequireSessionId(sessionId);
        var limit = (int)Query.Long(request, "limit", options.LogEventsPerSession, 1, WebhookOptions.MaxLogEvents);

        // 404 for an unknown, deleted or another owner's session, as everywhere.
        await gateways.Create(client).GetAsync(owner, id, cancellationToken);
        var sessionKey = SessionIds.InstanceId(owner, id);
        var dispatcher = await client.GetInstanceAsync(WebhookDispatch.InstanceId(sessionKey), getInputsAndOutputs: true, cancellationToken);
        if (dispatcher is null)
        {
            return Json(new WebhookLogBody(id, null, false, 0, []));
        }

        var status = dispatcher.SerializedCustomStatus is null ? null : dispatcher.ReadCustomStatusAs<WebhookDispatcherStatus>();
        var records = await log.ListAsync(sessionKey, limit, cancellationToken);
        return Json(new WebhookLogBody(id, dispatcher.ReadInputAs<WebhookDispatcherInput>()?.Url, status?.Stopped ?? false, status?.Queued ?? 0,
            [.. records.Select(ToBody)]));
    }

    [Function("RedeliverSessionWebhook")]
    public async Task<IActionResult> RedeliverAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/sessions/{sessionId}/webhooks/{eventId}/redeliver")] HttpRequest request,
        string sessionId,
        string eventId,
        [DurableClient] DurableTaskClient client,
        CancellationToken cancellationToken)
    {
        var owner = auth.Authenticate(request);
        var id = SessionFunctions.RequireSessionId(sessionId);
        await gateways.Create(client).GetAsync(owner, id, cancellationToken);
        var sessionKey = SessionIds.InstanceId(owner, id);
        if (!WebhookEventIds.TryParse(id, eventId, out var sequence)
            || await log.GetAsync(sessionKey, sequence, cancellationToken) is not { } record)
        {
            throw new ApiException(404, "not_found",
                $"Webhook event not found: the delivery log keeps the latest {options.LogEventsPerSession} events of a session, with ids <session_id>-<n>");
        }

        if (record.Body is null)
        {
            throw ApiException.Conflict("event_too_large", "This event's body was too large to keep, so it cannot be redelivered");
        }

        var dispatcherId = WebhookDispatch.InstanceId(sessionKey);
        if (await client.GetInstanceAsync(dispatcherId, getInputsAndOutputs: false, cancellationToken) is not { IsCompleted: false })
        {
            throw ApiException.Conflict("webhooks_ended", "This session's webhook deliveries have ended");
        }

        try
        {
            await client.RaiseEventAsync(dispatcherId, WebhookDispatch.RedeliverEventName,
                new WebhookRedelivery(sequence, record.EventId, record.Event, record.Body, Guid.NewGuid().ToString("N")), cancellationToken);
        }
        catch (Exception exception) when (exception is RpcException or InvalidOperationException)
        {
            throw ApiException.Conflict("webhooks_ended", "This session's webhook deliveries have ended");
        }

        return ApiResults.Json(StatusCodes.Status202Accepted, new RedeliverBody(true, "Redelivery requested", record.EventId),
            WebhookJsonContext.Default.RedeliverBody);
    }

    private static ApiResult<WebhookLogBody> Json(WebhookLogBody body) =>
        ApiResults.Json(StatusCodes.Status200OK, body, WebhookJsonContext.Default.WebhookLogBody);

    private static WebhookEventBody ToBody(WebhookLogRecord record) => new(
        record.EventId,
        record.Event,
        WireTime.Format(record.Timestamp),
        record.State,
        record.AttemptCount,
        record.NextAttemptAt is { } next && record.State == WebhookStates.Pending ? WireTime.Format(next) : null,
        [.. record.Attempts.Select(a => new WebhookAttemptBody(a.Number, WireTime.Format(a.At), a.StatusCode, a.Error, a.DurationMs, a.RedeliveryId is not null))]);
}
