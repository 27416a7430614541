using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;

namespace AgentSessions.Functions.Http;

/// <summary>A JSON response written with the source-generated wire format.</summary>
public sealed class ApiResult<T>(int statusCode, T body, JsonTypeInfo<T> typeInfo, TimeSpan? retryAfter = null) : IActionResult
{
    public int StatusCode { get; } = statusCode;

    public T Body { get; } = body;

    /// <summary>Sent as <c>Retry-After</c> (whole seconds): when a client may try again.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;

    public Task ExecuteResultAsync(ActionContext context) => WriteAsync(context.HttpContext.Response);

    public async Task WriteAsync(HttpResponse response)
    {
        response.StatusCode = StatusCode;
        response.ContentType = "application/json; charset=utf-8";
        if (RetryAfter is { } retryAfter)
        {
            response.Headers.RetryAfter = ((int)Math.Ceiling(retryAfter.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        await System.Text.Json.JsonSerializer.SerializeAsync(response.Body, Body, typeInfo, response.HttpContext.RequestAborted);
    }
}

public static class ApiResults
{
    public static ApiResult<T> Json<T>(int statusCode, T body, JsonTypeInfo<T> typeInfo) => new(statusCode, body, typeInfo);

    public static ApiResult<ErrorBody> Error(ApiException error) =>
        new(error.StatusCode, new ErrorBody(error.Code, error.Message, error.Message), ApiJsonContext.Default.ErrorBody, error.RetryAfter);

    public static ApiResult<ErrorBody> InternalError() =>
        new(500, new ErrorBody("internal_error", "The server could not complete the request", "The server could not complete the request"),
            ApiJsonContext.Default.ErrorBody);
}
