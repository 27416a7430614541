using System.Text;
using System.Text.Json;
using AgentSessions.Functions.Http;
using AgentSessions.Functions.Tests.Infrastructure;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.Abstractions;
using Microsoft.AspNetCore.Routing;

namespace AgentSessions.Functions.Tests.Http;

/// <summary>
/// One HTTP request against a function method, answered the way the app answers it: the function's
/// <see cref="IActionResult"/>, or — exactly as <see cref="ErrorBodyMiddleware"/> does — an error body
/// for whatever it threw. Route parameters are passed to the function by the caller.
/// </summary>
public sealed class HttpCall
{
    private readonly string method;
    private readonly string path;
    private readonly Dictionary<string, string> headers = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<KeyValuePair<string, string?>> query = [];
    private byte[]? body;
    private bool declareLength = true;

    public HttpCall(string method, string path)
    {
        this.method = method;
        this.path = path;
    }

    public static HttpCall Get(string path) => new(HttpMethods.Get, path);

    public static HttpCall Post(string path) => new(HttpMethods.Post, path);

    public static HttpCall Delete(string path) => new(HttpMethods.Delete, path);

    /// <summary>Sets the raw Authorization header; null sends none.</summary>
    public HttpCall Authorization(string? value)
    {
        if (value is null)
        {
            headers.Remove("Authorization");
        }
        else
        {
            headers["Authorization"] = value;
        }

        return this;
    }

    public HttpCall Bearer(string key) => Authorization("Bearer " + key);

    public HttpCall Header(string name, string value)
    {
        headers[name] = value;
        return this;
    }

    public HttpCall Query(string name, string value)
    {
        query.Add(new(name, value));
        return this;
    }

    /// <summary>A JSON body (UTF-8); null sends no body.</summary>
    public HttpCall Json(string? json) => json is null ? this : Body(Encoding.UTF8.GetBytes(json));

    /// <summary>Raw body bytes; with <paramref name="withContentLength"/> false the length is not declared (as with chunked transfer).</summary>
    public HttpCall Body(byte[] bytes, bool withContentLength = true)
    {
        body = bytes;
        declareLength = withContentLength;
        headers.TryAdd("Content-Type", "application/json");
        return this;
    }

    public DefaultHttpContext BuildContext()
    {
        var context = new DefaultHttpContext();
        var request = context.Request;
        request.Method = method;
        request.Scheme = "http";
        request.Host = new HostString("localhost", 7071);
        request.Path = new PathString(path);
        if (query.Count > 0)
        {
            request.QueryString = QueryString.Create(query);
        }

        foreach (var (name, value) in headers)
        {
            request.Headers[name] = value;
        }

        if (body is not null)
        {
            request.Body = new MemoryStream(body, writable: false);
            request.ContentLength = declareLength ? body.Length : null;
        }
        else
        {
            request.Body = Stream.Null;
            request.ContentLength = method == HttpMethods.Post ? 0 : null;
        }

        context.Response.Body = new MemoryStream();
        return context;
    }

    /// <summary>Runs <paramref name="function"/> on the request and returns what the client would receive.</summary>
    public async Task<HttpAnswer> InvokeAsync(Func<HttpRequest, Task<IActionResult>> function)
    {
        var context = BuildContext();
        IActionResult result;
        Exception? unhandled = null;
        try
        {
            result = await function(context.Request);
        }
        catch (Exception exception)
        {
            var error = ErrorBodyMiddleware.Unwrap(exception);
            if (error is null)
            {
                unhandled = exception;
                result = ApiResults.InternalError();
            }
            else
            {
                result = ApiResults.Error(error);
            }
        }

        await result.ExecuteResultAsync(new ActionContext(context, new RouteData(), new ActionDescriptor()));

        return Answer($"{method} {path}{context.Request.QueryString}", context.Response.StatusCode, context.Response.ContentType,
            ((MemoryStream)context.Response.Body).ToArray(), unhandled,
            context.Response.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase));
    }

    /// <summary>
    /// Sends the request over a real connection to <paramref name="server"/> (routing, headers, the app's middleware) and
    /// returns what came back; an exception the server recorded meanwhile is reported as the answer's unhandled one.
    /// </summary>
    public async Task<HttpAnswer> SendAsync(ApiTestServer server)
    {
        var target = path.TrimStart('/') + (query.Count > 0 ? QueryString.Create(query).ToString() : string.Empty);
        using var request = new HttpRequestMessage(new HttpMethod(method), target);
        if (body is not null)
        {
            request.Content = declareLength ? new ByteArrayContent(body) : new UndeclaredLengthContent(body);
        }

        foreach (var (name, value) in headers)
        {
            if (name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase))
            {
                request.Content ??= new ByteArrayContent([]);
                request.Content.Headers.Remove(name);
                request.Content.Headers.TryAddWithoutValidation(name, value);
            }
            else
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
        }

        var before = server.Unhandled.Count;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var response = await server.Client.SendAsync(request, timeout.Token);
        var bytes = await response.Content.ReadAsByteArrayAsync(timeout.Token);
        var unhandled = server.Unhandled.Skip(before).FirstOrDefault();
        var responseHeaders = response.Headers.Concat(response.Content.Headers)
            .ToDictionary(h => h.Key, h => string.Join(", ", h.Value), StringComparer.OrdinalIgnoreCase);
        return Answer($"{method} /{target}", (int)response.StatusCode, response.Content.Headers.ContentType?.ToString(), bytes, unhandled, responseHeaders);
    }

    private HttpAnswer Answer(string request, int status, string? contentType, byte[] bytes, Exception? unhandled,
        IReadOnlyDictionary<string, string> responseHeaders)
    {
        var raw = Encoding.UTF8.GetString(bytes);
        JsonDocument? document = null;
        if (bytes.Length > 0)
        {
            try
            {
                document = JsonDocument.Parse(bytes);
            }
            catch (JsonException exception)
            {
                Assert.Fail($"{method} {path} answered {status} with a body that is not JSON ({exception.Message}): {raw}");
            }
        }

        return new HttpAnswer(request, status, contentType, document, raw, unhandled) { Headers = responseHeaders };
    }

    /// <summary>A body sent without Content-Length (chunked), as a streaming client sends it.</summary>
    private sealed class UndeclaredLengthContent(byte[] bytes) : HttpContent
    {
        protected override Task SerializeToStreamAsync(Stream stream, System.Net.TransportContext? context) => stream.WriteAsync(bytes).AsTask();

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }
}

/// <summary>What came back: status, content type and the parsed JSON body.</summary>
public sealed class HttpAnswer(string request, int status, string? contentType, JsonDocument? body, string raw, Exception? unhandled)
{
    public string Request { get; } = request;

    public int Status { get; } = status;

    public string? ContentType { get; } = contentType;

    public JsonDocument? Body { get; } = body;

    public string Raw { get; } = raw;

    /// <summary>The response's headers (content headers included), by case-insensitive name.</summary>
    public IReadOnlyDictionary<string, string> Headers { get; init; } = new Dictionary<string, string>();

    /// <summary>The exception that became a 500, if any: no input may produce one.</summary>
    public Exception? Unhandled { get; } = unhandled;

    public JsonElement Json => Body?.RootElement ?? throw new InvalidOperationException($"{Request} answered {Status} with no body");

    public string String(string property) => Json.GetProperty(property).GetString()!;

    /// <summary>Fails with the whole answer (and any unhandled exception) unless the status is <paramref name="expected"/>.</summary>
    public HttpAnswer Expect(int expected)
    {
        if (Status != expected)
        {
            Assert.Fail($"expected {expected}: {this}");
        }

        Assert.StartsWith("application/json", ContentType, StringComparison.Ordinal);
        Assert.NotNull(Body);
        return this;
    }

    /// <summary>
    /// Expects an error answer: the status, then exactly the string fields error, message and detail,
    /// with detail equal to message (and, when given, the error code).
    /// </summary>
    public HttpAnswer ExpectError(int expected, string? code = null)
    {
        Expect(expected);
        AssertErrorBody(this, code);
        return this;
    }

    public static void AssertErrorBody(HttpAnswer answer, string? code = null)
    {
        var json = answer.Json;
        Assert.Equal(JsonValueKind.Object, json.ValueKind);
        var names = json.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["detail", "error", "message"], names);
        foreach (var property in json.EnumerateObject())
        {
            Assert.Equal(JsonValueKind.String, property.Value.ValueKind);
            Assert.False(string.IsNullOrWhiteSpace(property.Value.GetString()), $"{property.Name} is empty in {answer.Raw}");
        }

        Assert.Equal(answer.String("message"), answer.String("detail"));
        if (code is not null)
        {
            Assert.Equal(code, answer.String("error"));
        }
    }

    public override string ToString() =>
        $"{Request} -> {Status} {Raw}" + (Unhandled is null ? string.Empty : $"{Environment.NewLine}Unhandled exception: {Unhandled}");
}
