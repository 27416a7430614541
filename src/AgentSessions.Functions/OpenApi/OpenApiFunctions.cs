using AgentSessions.Functions.Auth;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Azure.Functions.Worker;

namespace AgentSessions.Functions.OpenApi;

/// <summary>
/// <c>GET /v1/openapi.json</c>: the OpenAPI 3.1 description of the whole API. Behind the API key
/// like every route but health, as the contract says.
/// </summary>
public sealed class OpenApiFunctions(ApiKeyAuthenticator auth)
{
    [Function("OpenApi")]
    public IActionResult Get(
        [HttpTrigger(AuthorizationLevel.Anonymous, "get", Route = "v1/openapi.json")] HttpRequest request)
    {
        auth.Authenticate(request);
        return new OpenApiDocumentResult();
    }

    private sealed class OpenApiDocumentResult : IActionResult
    {
        public async Task ExecuteResultAsync(ActionContext context)
        {
            var response = context.HttpContext.Response;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = "application/json; charset=utf-8";
            response.ContentLength = OpenApiDocument.Utf8Json.Length;
            await response.Body.WriteAsync(OpenApiDocument.Utf8Json, context.HttpContext.RequestAborted);
        }
    }
}

/// <summary>The document: <c>OpenApi/openapi.json</c>, written by hand and embedded in the assembly.</summary>
public static class OpenApiDocument
{
    public const string ResourceName = "AgentSessions.Functions.OpenApi.openapi.json";

    private static readonly Lazy<ReadOnlyMemory<byte>> Bytes = new(Load);

    public static ReadOnlyMemory<byte> Utf8Json => Bytes.Value;

    private static ReadOnlyMemory<byte> Load()
    {
        using var stream = typeof(OpenApiDocument).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"Embedded resource {ResourceName} is missing from the build.");
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }
}
