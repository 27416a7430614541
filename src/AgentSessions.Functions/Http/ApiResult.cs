using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace AgentSessions.Functions.Http;

/// <summary>A JSON response written with the source-generated wire format.</summary>
public sealed class ApiResult<T>(int statusCode, T body, JsonTypeInfo<T> typeInfo) : IActionResult
{
    public int StatusCode { get; } = statusCode;

    public T Body { get; } = body;

    /// <summary>Extra response headers, e.g. <c>Allow</c> on a 405 or <c>Retry-After</c> on a 503.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; init; } = [];

    public Task ExecuteResultAsync(ActionContext context) => WriteAsync(context.HttpContext.Response);

    public async Task WriteAsync(HttpResponse response)
    {
        response.StatusCode = StatusCode;
        foreach (var (name, value) in Headers)
        {
            response.Headers[name] = value;
        }

        response.ContentType = "application/json; charset=utf-8";
        await System.Text.Json.JsonSerializer.SerializeAsync(response.Body, Body, typeInfo, response.HttpContext.RequestAborted);
    }
}

public static class ApiResults
{
    public static ApiResult<T> Json<T>(int statusCode, T body, JsonTypeInfo<T> typeInfo) => new(statusCode, body, typeInfo);

    public static ApiResult<ErrorBody> Error(ApiException error) =>
        new(error.StatusCode, new ErrorBody(error.Code, error.Message, error.Message), ApiJsonContext.Default.ErrorBody)
        {
            Headers = HeadersOf(error),
        };

    private static List<KeyValuePair<string, string>> HeadersOf(ApiException error)
    {
        var headers = new List<KeyValuePair<string, string>>();
        if (error.Allow is { } allow)
        {
            headers.Add(new("Allow", allow));
        }

        if (error.RetryAfter is { } retryAfter)
        {
            headers.Add(new("Retry-After", ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        return headers;
    }

    /// <summary>302 to a path of this app (MVC's RedirectResult needs MVC services the worker does not register).</summary>
    public static IActionResult Redirect(string location) => new RedirectToPath(location);

    public static ApiResult<ErrorBody> InternalError() =>
        new(500, new ErrorBody("internal_error", "The server could not complete the request", "The server could not complete the request"),
            ApiJsonContext.Default.ErrorBody);
}

/// <summary>A 302 with a <c>Location</c> and no body.</summary>
public sealed class RedirectToPath(string location) : IActionResult
{
    public string Location { get; } = location;

    public Task ExecuteResultAsync(ActionContext context)
    {
        var response = context.HttpContext.Response;
        response.StatusCode = StatusCodes.Status302Found;
        response.Headers.Location = Location;
        response.Headers.CacheControl = "no-cache";
        return Task.CompletedTask;
    }
}
