using AgentSessions.Functions.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;

namespace AgentSessions.Functions.Health;

/// <summary><c>GET /v1/health</c>, without auth: 200 when storage and the task hub answer, 503 naming what does not.</summary>
public sealed class HealthFunctions(HealthChecker checker)
{
    [Function("Health")]
    public async Task<IActionResult> GetAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/health")] HttpRequest request,
        [DurableClient] DurableTaskClient client,
        CancellationToken cancellationToken)
    {
        var report = await checker.CheckAsync(client, cancellationToken);
        var status = report.IsHealthy ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
        return new NoStoreResult(ApiResults.Json(status, report, HealthJsonContext.Default.HealthReport));
    }

    /// <summary>A probe must see the state now, never a cached answer.</summary>
    private sealed class NoStoreResult(IActionResult inner) : IActionResult
    {
        public Task ExecuteResultAsync(ActionContext context)
        {
            context.HttpContext.Response.Headers.CacheControl = "no-store";
            return inner.ExecuteResultAsync(context);
        }
    }
}
