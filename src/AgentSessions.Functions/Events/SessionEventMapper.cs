using System.Text.Json;
using System.Text.Json.Serialization;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Http;
using AgentSessions.Functions.Messages;

namespace AgentSessions.Functions.Events;

/// <summary>
/// Turns stored messages into stream frames, one stream at a time: it remembers the (task, step) of the last
/// message so a <c>step</c> event introduces the first message of each new step.
/// </summary>
public sealed class SessionEventMapper(EventTypeFilter filter, bool sanitize)
{
    private (int Task, int Step)? lastStep;

    /// <summary>
    /// Starts from the message the client already has (the resume point), so resuming inside a step does not
    /// announce that step again.
    /// </summary>
    public void Seed(SessionMessage? alreadySent)
    {
        if (alreadySent is not null && StepOf(alreadySent) is { } step)
        {
            lastStep = step;
        }
    }

    /// <summary>The frames for <paramref name="message"/> that the filter lets through (possibly none).</summary>
    public IReadOnlyList<SseFrame> Map(SessionMessage message)
    {
        var frames = new List<SseFrame>(2);
        if (StepOf(message) is { } step && step != lastStep)
        {
            lastStep = step;
            if (filter.Allows(SessionEventTypes.Step))
            {
                frames.Add(new SseFrame(message.Id, SessionEventTypes.Step,
                    Serialize(new StepEventData(step.Step, step.Task, message.Id), EventJsonContext.Default.StepEventData)));
            }
        }

        if (SessionEventTypes.ForMessageType(message.Type) is { } eventType && filter.Allows(eventType))
        {
            frames.Add(new SseFrame(message.Id, eventType, Serialize(ToData(sanitize ? MessageSanitizer.Sanitize(message) : message),
                EventJsonContext.Default.MessageEventData)));
        }

        return frames;
    }

    public static MessageEventData ToData(SessionMessage message)
    {
        var text = message.Content.ValueKind == JsonValueKind.String ? message.Content.GetString()! : message.Content.GetRawText();
        var metadata = message.Metadata.ValueKind == JsonValueKind.Object ? message.Metadata : EmptyObject;
        return new MessageEventData(message.Id, message.Type, text, message.Content, WireTime.Format(message.Timestamp), metadata,
            Result: message.Type == MessageTypes.Done ? message.Content : null,
            Error: message.Type == MessageTypes.Error ? text : null);
    }

    public static SseFrame Heartbeat(DateTimeOffset now) =>
        new(null, SessionEventTypes.Heartbeat, Serialize(new HeartbeatEventData(WireTime.Format(now)), EventJsonContext.Default.HeartbeatEventData));

    /// <summary>A <c>paused</c> or <c>resumed</c> event carrying the status the session shows now.</summary>
    public static SseFrame StatusChange(string eventType, string status, DateTimeOffset now) =>
        new(null, eventType, Serialize(new StatusEventData(status, WireTime.Format(now)), EventJsonContext.Default.StatusEventData));

    /// <summary>The (task, step) an agent message carries in its metadata; user and system messages carry none.</summary>
    public static (int Task, int Step)? StepOf(SessionMessage message) =>
        message.Metadata.ValueKind == JsonValueKind.Object
        && message.Metadata.TryGetProperty("task", out var task) && task.ValueKind == JsonValueKind.Number && task.TryGetInt32(out var taskNumber)
        && message.Metadata.TryGetProperty("step", out var step) && step.ValueKind == JsonValueKind.Number && step.TryGetInt32(out var stepNumber)
            ? (taskNumber, stepNumber)
            : null;

    private static readonly JsonElement EmptyObject = JsonDocument.Parse("{}").RootElement.Clone();

    private static byte[] Serialize<T>(T value, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> typeInfo) =>
        JsonSerializer.SerializeToUtf8Bytes(value, typeInfo);
}

/// <summary>The data of a message event. <c>result</c> only on done, <c>error</c> only on error.</summary>
public sealed record MessageEventData(
    long MessageId,
    string Type,
    string Text,
    JsonElement Content,
    string Timestamp,
    JsonElement Metadata,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] JsonElement? Result,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Error);

public sealed record StepEventData(int Step, int Task, long MessageId);

public sealed record StatusEventData(string Status, string Timestamp);

public sealed record HeartbeatEventData(string Timestamp);

/// <summary>The stream's data in the API's wire format (snake_case, source-generated).</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(MessageEventData))]
[JsonSerializable(typeof(StepEventData))]
[JsonSerializable(typeof(StatusEventData))]
[JsonSerializable(typeof(HeartbeatEventData))]
public sealed partial class EventJsonContext : JsonSerializerContext;
