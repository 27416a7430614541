using AgentSessions.Functions.Http;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Net.Http.Headers;

namespace AgentSessions.Functions.SessionConsole;

/// <summary>
/// <c>GET /console/…</c>: the session console, a static single-page app served by the Functions app itself (no second
/// deployment, nothing from a CDN). It signs in with an API key and calls the public API like any client.
/// </summary>
public sealed class ConsoleFunctions
{
    public const string Home = "/console/";

    /// <summary>
    /// Only the console's own files run or load: no inline script or style, no other origin, no framing, no plugins.
    /// <c>img-src data:</c> is for agent screenshots, which the API returns as base64.
    /// </summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

    [Function("Console")]
    public IActionResult Get([HttpTrigger(AuthorizationLevel.Anonymous, "get", "head", Route = "console/{*path}")] HttpRequest request)
    {
        var headers = request.HttpContext.Response.Headers;
        headers.ContentSecurityPolicy = ContentSecurityPolicy;
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers["Cross-Origin-Opener-Policy"] = "same-origin";

        var path = request.Path.Value ?? string.Empty;
        if (!path.EndsWith('/') && string.Equals(path, Home.TrimEnd('/'), StringComparison.OrdinalIgnoreCase))
        {
            return ApiResults.Redirect(Home); // relative URLs in index.html resolve against /console/
        }

        var relative = path.Length > Home.Length ? path[Home.Length..] : string.Empty;
        var asset = ConsoleAssets.Default.Find(relative) ?? throw ApiException.RouteNotFound(request.Method, path);
        return new AssetResult(asset);
    }

    /// <summary>The file, revalidated on every use (<c>no-cache</c> + ETag) so a deployment is seen at once.</summary>
    private sealed class AssetResult(ConsoleAsset asset) : IActionResult
    {
        public async Task ExecuteResultAsync(ActionContext context)
        {
            var request = context.HttpContext.Request;
            var response = context.HttpContext.Response;
            response.Headers.CacheControl = "no-cache";
            response.Headers.ETag = asset.ETag;
            var ifNoneMatch = request.Headers.IfNoneMatch;
            if (EntityTagHeaderValue.TryParseList(ifNoneMatch, out var tags) && tags.Any(t => t.Tag == asset.ETag || t.Equals(EntityTagHeaderValue.Any)))
            {
                response.StatusCode = StatusCodes.Status304NotModified;
                return;
            }

            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = asset.ContentType;
            response.ContentLength = asset.Content.Length;
            if (!HttpMethods.IsHead(request.Method))
            {
                await response.Body.WriteAsync(asset.Content, context.HttpContext.RequestAborted);
            }
        }
    }
}
