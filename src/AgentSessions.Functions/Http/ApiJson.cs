using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace AgentSessions.Functions.Http;

/// <summary>The wire format: snake_case, source-generated, nulls written (the SDKs expect e.g. <c>vnc_url: null</c>).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(ErrorBody))]
[JsonSerializable(typeof(SessionBody))]
[JsonSerializable(typeof(List<SessionSummaryBody>))]
[JsonSerializable(typeof(DeleteBody))]
[JsonSerializable(typeof(StatusBody))]
[JsonSerializable(typeof(CommandBody))]
[JsonSerializable(typeof(SuccessBody))]
[JsonSerializable(typeof(MessagesBody))]
[JsonSerializable(typeof(NavigateBody))]
[JsonSerializable(typeof(ScreenshotBody))]
[JsonSerializable(typeof(ModelsBody))]
public sealed partial class ApiJsonContext : JsonSerializerContext;

public sealed record ErrorBody(string Error, string Message, string Detail);

public sealed record SessionBody(
    string SessionId,
    string? VncUrl,
    string AgentName,
    string Status,
    string CreatedAt,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Goal);

public sealed record SessionSummaryBody(string SessionId, string AgentName, string Status, string CreatedAt);

public sealed record DeleteBody(bool Success, bool Deleted, string Message);

public sealed record StatusBody(string Status);

public sealed record CommandBody(
    bool Success,
    string Message,
    string Status,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] bool Pending);

public sealed record SuccessBody(bool Success, string Message);

/// <param name="HasAgentCamel">The C# SDK reads <c>hasAgent</c>; the contract says <c>has_agent</c>. Both are sent.</param>
public sealed record MessagesBody(
    List<MessageBody> Messages,
    string Status,
    bool HasAgent,
    [property: JsonPropertyName("hasAgent")] bool HasAgentCamel);

public sealed record NavigateBody(bool Success, string CurrentUrl);

public sealed record ScreenshotBody(
    string Screenshot,
    string Url,
    string Title,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Width,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] int? Height);

public sealed record ModelsBody(List<ModelBody> Models);

public sealed record ModelBody(string Id, string Name, string Description, List<string> Capabilities);

public sealed record MessageBody(long Id, string Type, JsonElement Content, string Timestamp, JsonElement Metadata);

public static class WireTime
{
    /// <summary>ISO-8601 UTC with milliseconds, as the contract shows: <c>2025-10-05T18:04:34.281Z</c>.</summary>
    public static string Format(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);
}
