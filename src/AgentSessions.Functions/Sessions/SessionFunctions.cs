using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Auth;
using AgentSessions.Functions.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;

namespace AgentSessions.Functions.Sessions;

/// <summary>HTTP endpoints for the session lifecycle: parse, authorize, call the gateway, map to the contract.</summary>
public sealed class SessionFunctions(ApiKeyAuthenticator auth, SessionGatewayFactory gateways, AgentCatalog agents, SessionsOptions options)
{
    public const int MaxGoalLength = 10_000;
    public const int MaxUrlLength = 2_000;

    [Function("CreateSession")]
    public async Task<IActionResult> CreateAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/sessions")] HttpRequest request,
        [DurableClient] DurableTaskClient client,
        CancellationToken cancellationToken)
    {
        var owner = auth.Authenticate(request);
        var fields = new JsonFields(await JsonBody.ReadObjectAsync(request, options.MaxBodyBytes, allowEmpty: true, cancellationToken));
        var agentName = fields.OptionalString("agent_name", 1, 100) ?? "agi-0";
        if (!agents.TryGet(agentName, out var agent))
        {
            throw ApiException.InvalidField("agent_name", $"unknown agent '{agentName}'; available: {string.Join(", ", agents.Names.Order())}");
        }

        var session = new NewSession(
            agentName,
            fields.OptionalInt("max_steps", 1, SessionState.MaxStepsLimit) ?? SessionState.DefaultMaxSteps,
            fields.OptionalString("goal", 1, MaxGoalLength),
            fields.OptionalHttpUrl("start_url", MaxUrlLength)?.ToString(),
            fields.OptionalHttpUrl("webhook_url", MaxUrlLength),
            agent.StepTimeout);

        var (view, created) = await gateways.Create(client).CreateAsync(owner, session, IdempotencyKey(request), cancellationToken);
        return ApiResults.Json(created ? StatusCodes.Status201Created : StatusCodes.Status200OK, ToBody(view), ApiJsonContext.Default.SessionBody);
    }

    [Function("ListSessions")]
    public async Task<IActionResult> ListAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/sessions")] HttpRequest request,
        [DurableClient] DurableTaskClient client,
        CancellationToken cancellationToken)
    {
        var owner = auth.Authenticate(request);
        var views = await gateways.Create(client).ListAsync(owner, cancellationToken);
        var body = views.Select(v => new SessionSummaryBody(v.SessionId, v.AgentName, v.Status, WireTime.Format(v.CreatedAt))).ToList();
        return ApiResults.Json(StatusCodes.Status200OK, body, ApiJsonContext.Default.ListSessionSummaryBody);
    }

    [Function("GetSession")]
    public async Task<IActionResult> GetAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/sessions/{sessionId}")] HttpRequest request,
        string sessionId,
        [DurableClient] DurableTaskClient client,
        CancellationToken cancellationToken)
    {
        var owner = auth.Authenticate(request);
        var view = await gateways.Create(client).GetAsync(owner, RequireSessionId(sessionId), cancellationToken);
        return ApiResults.Json(StatusCodes.Status200OK, ToBody(view), ApiJsonContext.Default.SessionBody);
    }

    [Function("GetSessionStatus")]
    public async Task<IActionResult> GetStatusAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/sessions/{sessionId}/status")] HttpRequest request,
        string sessionId,
        [DurableClient] DurableTaskClient client,
        CancellationToken cancellationToken)
    {
        var owner = auth.Authenticate(request);
        var view = await gateways.Create(client).GetAsync(owner, RequireSessionId(sessionId), cancellationToken);
        return ApiResults.Json(StatusCodes.Status200OK, new StatusBody(view.Status), ApiJsonContext.Default.StatusBody);
    }

    [Function("DeleteSession")]
    public async Task<IActionResult> DeleteAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = "v1/sessions/{sessionId}")] HttpRequest request,
        string sessionId,
        [DurableClient] DurableTaskClient client,
        CancellationToken cancellationToken)
    {
        var owner = auth.Authenticate(request);
        var deleted = SessionIds.TryNormalize(sessionId, out var id)
            && await gateways.Create(client).DeleteAsync(owner, id, cancellationToken);
        var body = deleted
            ? new DeleteBody(true, true, "Session deleted successfully")
            : new DeleteBody(true, false, "Session not found");
        return ApiResults.Json(StatusCodes.Status200OK, body, ApiJsonContext.Default.DeleteBody);
    }

    [Function("DeleteAllSessions")]
    public async Task<IActionResult> DeleteAllAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "delete", Route = "v1/sessions")] HttpRequest request,
        [DurableClient] DurableTaskClient client,
        CancellationToken cancellationToken)
    {
        var owner = auth.Authenticate(request);
        await gateways.Create(client).DeleteAllAsync(owner, cancellationToken);
        return ApiResults.Json(StatusCodes.Status200OK, new DeleteBody(true, true, "Sessions deleted successfully"),
            ApiJsonContext.Default.DeleteBody);
    }

    [Function("PauseSession")]
    public Task<IActionResult> PauseAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/sessions/{sessionId}/pause")] HttpRequest request,
        string sessionId,
        [DurableClient] DurableTaskClient client,
        CancellationToken cancellationToken) =>
        ControlAsync(request, sessionId, client, CommandEnvelope.Pause, "paused", cancellationToken);

    [Function("ResumeSession")]
    public Task<IActionResult> ResumeAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/sessions/{sessionId}/resume")] HttpRequest request,
        string sessionId,
        [DurableClient] DurableTaskClient client,
        CancellationToken cancellationToken) =>
        ControlAsync(request, sessionId, client, CommandEnvelope.Resume, "resumed", cancellationToken);

    [Function("CancelSession")]
    public Task<IActionResult> CancelAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/sessions/{sessionId}/cancel")] HttpRequest request,
        string sessionId,
        [DurableClient] DurableTaskClient client,
        CancellationToken cancellationToken) =>
        ControlAsync(request, sessionId, client, CommandEnvelope.Cancel, "cancelled", cancellationToken);

    private async Task<IActionResult> ControlAsync(
        HttpRequest request, string sessionId, DurableTaskClient client, string kind, string done, CancellationToken cancellationToken)
    {
        var owner = auth.Authenticate(request);
        var ack = await gateways.Create(client).SendAsync(owner, RequireSessionId(sessionId), kind, null, null, cancellationToken);
        return ack switch
        {
            { Pending: true } => ApiResults.Json(StatusCodes.Status202Accepted,
                new CommandBody(true, $"Session {kind} accepted; not applied yet", ack.View.Status, Pending: true),
                ApiJsonContext.Default.CommandBody),
            { Result: { IsRejected: true } rejected } => throw ApiException.Conflict(rejected.Code!,
                RejectionCodes.Explain(rejected.Code!, rejected.Status, cancel: kind == CommandEnvelope.Cancel)),
            _ => ApiResults.Json(StatusCodes.Status200OK,
                new CommandBody(true, $"Session {done} successfully", ack.Result!.Status, Pending: false),
                ApiJsonContext.Default.CommandBody),
        };
    }

    /// <summary>An optional <c>Idempotency-Key</c> header makes a retried create return the first one's session.</summary>
    private static string? IdempotencyKey(HttpRequest request)
    {
        var values = request.Headers["Idempotency-Key"];
        if (values.Count == 0)
        {
            return null;
        }

        var key = values.ToString().Trim();
        return key.Length is >= 1 and <= 200 && key.All(c => c is >= ' ' and <= '~')
            ? key
            : throw ApiException.InvalidField("Idempotency-Key", "must be 1 to 200 printable ASCII characters");
    }

    /// <summary>A malformed id names no session: the same 404 as an unknown one.</summary>
    public static string RequireSessionId(string raw) =>
        SessionIds.TryNormalize(raw, out var id) ? id : throw ApiException.SessionNotFound();

    public static SessionBody ToBody(SessionView view) =>
        new(view.SessionId, VncUrl: null, view.AgentName, view.Status, WireTime.Format(view.CreatedAt), view.Goal);
}
