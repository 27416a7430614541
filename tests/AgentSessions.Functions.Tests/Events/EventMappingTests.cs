using System.Buffers;
using System.Text;
using System.Text.Json;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Events;
using AgentSessions.Functions.Http;
using Microsoft.Extensions.Configuration;

namespace AgentSessions.Functions.Tests.Events;

/// <summary>The pure parts of the stream: frame format, message mapping, step boundaries, filters and Accept.</summary>
public sealed class EventMappingTests
{
    private static readonly DateTimeOffset At = new(2025, 10, 5, 18, 4, 34, 281, TimeSpan.Zero);

    [Fact]
    public void Frame_WithId_IsIdEventDataAndABlankLine()
    {
        var text = Format(new SseFrame(42, "thought", """{"text":"hi"}"""u8.ToArray()));
        Assert.Equal("id: 42\nevent: thought\ndata: {\"text\":\"hi\"}\n\n", text);
    }

    [Fact]
    public void Frame_WithoutId_HasNoIdLine_AndMultilineDataGetsOneDataFieldPerLine()
    {
        Assert.Equal("event: heartbeat\ndata: {}\n\n", Format(new SseFrame(null, "heartbeat", "{}"u8.ToArray())));
        Assert.Equal("event: x\ndata: a\ndata: b\n\n", Format(new SseFrame(null, "x", "a\r\nb"u8.ToArray())));
    }

    [Fact]
    public void AgentMessages_GetAStepEventBeforeTheFirstMessageOfEachStep()
    {
        var mapper = new SessionEventMapper(EventTypeFilter.Everything, sanitize: true);

        var frames = new[]
        {
            Message(1, MessageTypes.User, "\"go\""),
            Message(2, MessageTypes.Thought, "\"one\"", task: 1, step: 1),
            Message(3, MessageTypes.Thought, "\"two\"", task: 1, step: 2),
            Message(4, MessageTypes.Done, """{"summary":"ok"}""", task: 1, step: 2),
            Message(5, MessageTypes.Thought, "\"again\"", task: 2, step: 1),
        }.SelectMany(mapper.Map).ToList();

        Assert.Equal(["user", "step", "thought", "step", "thought", "done", "step", "thought"], frames.Select(f => f.Event));
        Assert.Equal([1L, 2, 2, 3, 3, 4, 5, 5], frames.Select(f => f.Id!.Value));
        Assert.Equal("""{"step":1,"task":2,"message_id":5}""", Encoding.UTF8.GetString(frames[6].Data));
    }

    [Fact]
    public void Seed_FromTheResumePoint_DoesNotRepeatItsStep()
    {
        var mapper = new SessionEventMapper(EventTypeFilter.Everything, sanitize: true);
        mapper.Seed(Message(3, MessageTypes.Thought, "\"two\"", task: 1, step: 2));

        var frames = mapper.Map(Message(4, MessageTypes.Done, """{"summary":"ok"}""", task: 1, step: 2));

        Assert.Equal(["done"], frames.Select(f => f.Event));
    }

    [Fact]
    public void Filter_DropsMessageEvents_ButStepTrackingContinues()
    {
        var mapper = new SessionEventMapper(EventTypeFilter.Parse("step"), sanitize: true);

        Assert.Equal(["step"], mapper.Map(Message(2, MessageTypes.Thought, "\"a\"", task: 1, step: 1)).Select(f => f.Event));
        Assert.Empty(mapper.Map(Message(3, MessageTypes.Done, "{}", task: 1, step: 1)));
    }

    [Fact]
    public void DoneData_CarriesResult_ErrorDataCarriesError_TextIsStringOrJson()
    {
        var done = SessionEventMapper.ToData(Message(7, MessageTypes.Done, """{"summary":"ok","steps":3}"""));
        var doneJson = Json(done);
        Assert.Equal(["message_id", "type", "text", "content", "timestamp", "metadata", "result"], doneJson.EnumerateObject().Select(p => p.Name));
        Assert.Equal("""{"summary":"ok","steps":3}""", doneJson.GetProperty("text").GetString());
        Assert.Equal("ok", doneJson.GetProperty("result").GetProperty("summary").GetString());
        Assert.Equal("2025-10-05T18:04:34.281Z", doneJson.GetProperty("timestamp").GetString());

        var error = Json(SessionEventMapper.ToData(Message(8, MessageTypes.Error, "\"boom\"")));
        Assert.Equal(["message_id", "type", "text", "content", "timestamp", "metadata", "error"], error.EnumerateObject().Select(p => p.Name));
        Assert.Equal("boom", error.GetProperty("error").GetString());

        var thought = Json(SessionEventMapper.ToData(Message(9, MessageTypes.Thought, "\"hm\"")));
        Assert.False(thought.TryGetProperty("result", out _));
        Assert.False(thought.TryGetProperty("error", out _));
    }

    [Fact]
    public void Sanitize_UsesTheMessageSanitizer()
    {
        var message = Message(1, MessageTypes.Log, "\"a\\u001b[1mb\\u0007\"") with
        {
            Metadata = JsonDocument.Parse("""{"_internal":1,"kept":2}""").RootElement,
        };

        var clean = Json(new SessionEventMapper(EventTypeFilter.Everything, sanitize: true).Map(message).Single());
        var raw = Json(new SessionEventMapper(EventTypeFilter.Everything, sanitize: false).Map(message).Single());

        Assert.Equal("ab", clean.GetProperty("text").GetString());
        Assert.Equal(["kept"], clean.GetProperty("metadata").EnumerateObject().Select(p => p.Name));
        Assert.Equal("a\u001b[1mb\u0007", raw.GetProperty("text").GetString());
        Assert.Equal(2, raw.GetProperty("metadata").EnumerateObject().Count());
    }

    [Fact]
    public void UnknownMessageType_IsSkipped()
    {
        var mapper = new SessionEventMapper(EventTypeFilter.Everything, sanitize: true);
        Assert.Empty(mapper.Map(Message(1, "SCREENSHOT", "{}")));
    }

    [Theory]
    [InlineData(null, 10)]
    [InlineData("", 10)]
    [InlineData(" , ", 10)]
    [InlineData("thought", 1)]
    [InlineData("Step, done ,heartbeat", 3)]
    [InlineData("done,done", 1)]
    public void EventTypes_Parse(string? raw, int allowed)
    {
        var filter = EventTypeFilter.Parse(raw);
        Assert.Equal(allowed, SessionEventTypes.All.Count(filter.Allows));
    }

    [Theory]
    [InlineData("thoughts")]
    [InlineData("thought,message")]
    public void EventTypes_Unknown_Is422NamingIt(string raw)
    {
        var error = Assert.Throws<ApiException>(() => EventTypeFilter.Parse(raw));
        Assert.Equal(422, error.StatusCode);
        Assert.StartsWith("event_types:", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, true)]
    [InlineData("", true)]
    [InlineData("*/*", true)]
    [InlineData("text/*", true)]
    [InlineData("text/event-stream", true)]
    [InlineData("TEXT/EVENT-STREAM; charset=utf-8", true)]
    [InlineData("application/json, */*;q=0.1", true)]
    [InlineData("application/json", false)]
    [InlineData("text/html, application/xhtml+xml", false)]
    [InlineData("text/event-stream;q=0", false)]
    [InlineData("text/event-stream;q=0, */*", false)]
    [InlineData("text/*;q=0, text/event-stream", true)]
    [InlineData("*/*;q=0", false)]
    public void Accept_AllowsEventStreamOnlyWhenTheMostSpecificMatchHasQualityAboveZero(string? accept, bool allowed) =>
        Assert.Equal(allowed, EventStreamAccept.Allows(accept));

    [Theory]
    [InlineData("running", "paused", "paused")]
    [InlineData("waiting_for_input", "paused", "paused")]
    [InlineData("paused", "running", "resumed")]
    [InlineData("paused", "finished", "resumed")]
    [InlineData("running", "finished", null)]
    [InlineData("paused", "paused", null)]
    public void StatusChange_PausedAndResumed(string before, string after, string? expected) =>
        Assert.Equal(expected, EventStreamResult.StatusChangeEvent(before, after));

    [Fact]
    public void Options_FromConfiguration_DefaultsAndBadValues()
    {
        var defaults = EventStreamOptions.FromConfiguration(new ConfigurationBuilder().Build());
        Assert.Equal(TimeSpan.FromSeconds(30), defaults.HeartbeatInterval);

        var set = EventStreamOptions.FromConfiguration(Config(EventStreamOptions.HeartbeatSetting, "5"));
        Assert.Equal(TimeSpan.FromSeconds(5), set.HeartbeatInterval);

        var error = Assert.Throws<InvalidOperationException>(() => EventStreamOptions.FromConfiguration(Config(EventStreamOptions.HeartbeatSetting, "0")));
        Assert.Contains(EventStreamOptions.HeartbeatSetting, error.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(() => EventStreamOptions.FromConfiguration(Config(EventStreamOptions.PollSetting, "fast")));
    }

    private static IConfiguration Config(string name, string value) =>
        new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?> { [name] = value }).Build();

    private static SessionMessage Message(long id, string type, string contentJson, int? task = null, int? step = null)
    {
        var metadata = task is null ? "{}" : $$"""{"task":{{task}},"step":{{step}}}""";
        return new SessionMessage(id, type, JsonDocument.Parse(contentJson).RootElement, At, JsonDocument.Parse(metadata).RootElement);
    }

    private static string Format(SseFrame frame)
    {
        var buffer = new ArrayBufferWriter<byte>();
        SseWriter.Format(frame, buffer);
        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static JsonElement Json(MessageEventData data) =>
        JsonSerializer.SerializeToElement(data, EventJsonContext.Default.MessageEventData);

    private static JsonElement Json(SseFrame frame) => JsonDocument.Parse(frame.Data).RootElement;
}
