using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace AgentSessions.Functions.Http;

/// <summary>
/// Whatever no other function serves. The host (and the worker's endpoint routing) order routes by specificity, so a
/// catch-all template only gets requests that match nothing else: left alone they would get the host's bare 404 with
/// an empty body, which no client can tell apart from a missing session. Here they get the contract's error body:
/// 405 with <c>Allow</c> for a known path with the wrong method, 404 otherwise; <c>/</c> goes to the console.
/// </summary>
public sealed class RouteFallbackFunctions
{
    public const string Route = "{*path}";

    private static readonly string[] RootMethods = [HttpMethods.Get, HttpMethods.Head];

    [Function("RouteFallback")]
    public IActionResult Fallback([HttpTrigger(AuthorizationLevel.Anonymous, Route = Route)] HttpRequest request)
    {
        var path = request.Path.HasValue ? request.Path : new PathString("/");
        var method = request.Method.ToUpperInvariant();
        if (path == "/")
        {
            return RootMethods.Contains(method, StringComparer.Ordinal)
                ? ApiResults.Redirect(SessionConsole.ConsoleFunctions.Home)
                : Refuse(request, method, path, RootMethods);
        }

        var allowed = HttpRoutes.App
            .Where(route => !route.AnyMethod && route.Matches(path))
            .SelectMany(route => route.Methods)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)
            .ToList();
        return allowed.Count > 0
            ? Refuse(request, method, path, allowed)
            : throw ApiException.RouteNotFound(method, path.Value!);
    }

    /// <summary>OPTIONS asks which methods a path takes (RFC 9110 §9.3.7): 204 with <c>Allow</c>; any other method gets 405.</summary>
    private static IActionResult Refuse(HttpRequest request, string method, PathString path, IReadOnlyCollection<string> allowed)
    {
        if (method == HttpMethods.Options)
        {
            request.HttpContext.Response.Headers.Allow = string.Join(", ", allowed);
            return new NoContent();
        }

        throw ApiException.MethodNotAllowed(method, path.Value!, allowed);
    }

    /// <summary>A bare 204 (MVC's own results need MVC services the worker does not register).</summary>
    private sealed class NoContent : IActionResult
    {
        public Task ExecuteResultAsync(ActionContext context)
        {
            context.HttpContext.Response.StatusCode = StatusCodes.Status204NoContent;
            return Task.CompletedTask;
        }
    }
}
