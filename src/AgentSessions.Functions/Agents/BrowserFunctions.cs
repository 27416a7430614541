using AgentSessions.Functions.Auth;
using AgentSessions.Functions.Http;
using AgentSessions.Functions.Sessions;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.DurableTask.Client;

namespace AgentSessions.Functions.Agents;

/// <summary>
/// Browser endpoints of the public API. They go to the session's agent; an agent without a
/// browser answers 501 rather than anything invented.
/// </summary>
public sealed class BrowserFunctions(ApiKeyAuthenticator auth, SessionGatewayFactory gateways, AgentResolver agents, SessionsOptions options)
{
    [Function("NavigateSession")]
    public async Task<IActionResult> NavigateAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "post", Route = "v1/sessions/{sessionId}/navigate")] HttpRequest request,
        string sessionId,
        [DurableClient] DurableTaskClient client,
        CancellationToken cancellationToken)
    {
        var owner = auth.Authenticate(request);
        var id = SessionFunctions.RequireSessionId(sessionId);
        var fields = new JsonFields(await JsonBody.ReadObjectAsync(request, options.MaxBodyBytes, allowEmpty: false, cancellationToken));
        var url = fields.OptionalHttpUrl("url", SessionFunctions.MaxUrlLength) ?? throw ApiException.InvalidField("url", "is required");

        var gateway = gateways.Create(client);
        var view = await gateway.GetAsync(owner, id, cancellationToken);
        var navigation = await agents.Resolve(view.AgentName).NavigateAsync(id, url.ToString(), cancellationToken);

        // Recorded in the session (state and a LOG message) so the transcript shows where the browser went.
        await gateway.SendAsync(owner, id, CommandEnvelope.Navigate, navigation.CurrentUrl, null, cancellationToken);
        return ApiResults.Json(StatusCodes.Status200OK, new NavigateBody(true, navigation.CurrentUrl), ApiJsonContext.Default.NavigateBody);
    }

    [Function("GetScreenshot")]
    public async Task<IActionResult> ScreenshotAsync(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/sessions/{sessionId}/screenshot")] HttpRequest request,
        string sessionId,
        [DurableClient] DurableTaskClient client,
        CancellationToken cancellationToken)
    {
        var owner = auth.Authenticate(request);
        var id = SessionFunctions.RequireSessionId(sessionId);
        var view = await gateways.Create(client).GetAsync(owner, id, cancellationToken);
        var screenshot = await agents.Resolve(view.AgentName).ScreenshotAsync(id, cancellationToken);
        return ApiResults.Json(StatusCodes.Status200OK, Normalize(screenshot, view.CurrentUrl), ApiJsonContext.Default.ScreenshotBody);
    }

    /// <summary>
    /// The SDKs want plain base64 (the C# one decodes it directly) plus string <c>url</c> and
    /// <c>title</c> (the Python one requires them), whatever shape the agent used.
    /// </summary>
    public static ScreenshotBody Normalize(System.Text.Json.JsonElement screenshot, string? currentUrl)
    {
        var data = screenshot.GetProperty("screenshot").GetString()!;
        var comma = data.IndexOf(',');
        if (data.StartsWith("data:", StringComparison.OrdinalIgnoreCase) && comma > 0)
        {
            data = data[(comma + 1)..];
        }

        return new ScreenshotBody(
            data,
            StringOrNull(screenshot, "url") ?? currentUrl ?? string.Empty,
            StringOrNull(screenshot, "title") ?? string.Empty,
            IntOrNull(screenshot, "width"),
            IntOrNull(screenshot, "height"));
    }

    private static string? StringOrNull(System.Text.Json.JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == System.Text.Json.JsonValueKind.String ? value.GetString() : null;

    private static int? IntOrNull(System.Text.Json.JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == System.Text.Json.JsonValueKind.Number && value.TryGetInt32(out var number)
            ? number : null;
}
