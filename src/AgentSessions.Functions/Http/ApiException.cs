namespace AgentSessions.Functions.Http;

/// <summary>
/// An error the API answers on purpose. Thrown anywhere in a request; <see cref="ErrorBodyMiddleware"/>
/// is the one place that turns it into <c>{"error","message","detail"}</c>.
/// </summary>
public sealed class ApiException(int statusCode, string code, string message, TimeSpan? retryAfter = null, Exception? inner = null)
    : Exception(message, inner)
{
    /// <summary>What a client is told to wait before retrying a 503: the backend usually recovers within seconds.</summary>
    public static readonly TimeSpan DefaultRetryAfter = TimeSpan.FromSeconds(2);

    public int StatusCode { get; } = statusCode;

    public string Code { get; } = code;

    /// <summary>Sent as <c>Retry-After</c>.</summary>
    public TimeSpan? RetryAfter { get; } = retryAfter;
    /// <summary>For 405: the methods the path does answer, sent as the <c>Allow</c> header.</summary>
    public string? Allow { get; init; }

    public static ApiException SessionNotFound() => new(404, "not_found", "Session not found");

    public static ApiException Unauthorized(string message) => new(401, "unauthorized", message);

    public static ApiException MalformedJson(string message) => new(400, "invalid_json", message);

    public static ApiException BodyTooLarge(long limit) => new(413, "payload_too_large", $"Request body is larger than {limit} bytes");

    public static ApiException InvalidField(string field, string message) => new(422, "validation_error", $"{field}: {message}");

    public static ApiException Conflict(string code, string message) => new(409, code, message);

    /// <summary>The Durable backend or storage failed in a way that passes: 503 with <c>Retry-After</c>, never "not found".</summary>
    public static ApiException Unavailable(string message, Exception? inner = null) =>
        new(503, "unavailable", message, DefaultRetryAfter, inner);
    public static ApiException RouteNotFound(string method, string path) =>
        new(404, "not_found", $"No endpoint answers {method} {path}");

    public static ApiException MethodNotAllowed(string method, string path, IReadOnlyCollection<string> allowed) =>
        new(405, "method_not_allowed", $"{method} is not allowed on {path}; allowed: {string.Join(", ", allowed)}")
        {
            Allow = string.Join(", ", allowed),
        };
}
