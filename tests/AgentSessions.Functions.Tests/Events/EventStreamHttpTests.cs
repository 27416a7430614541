using System.Diagnostics;
using System.Text.Json;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Events;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Http;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Events;

/// <summary>
/// <c>GET /v1/sessions/{id}/events</c> over a real connection: the function behind Kestrel, the real orchestration and
/// message store behind the function, and an HttpClient that reads the stream as it arrives.
/// </summary>
public abstract class EventStreamHttpTests(AzuriteFixture azurite)
{
    [Collection(AzuriteFixture.CollectionName)]
    public sealed class InMemory(AzuriteFixture azurite) : EventStreamHttpTests(azurite)
    {
    }

    [Collection(AzureStorageFixture.CollectionName)]
    public sealed class OnAzureStorage(AzureStorageFixture azurite) : EventStreamHttpTests(azurite)
    {
    }

    private const string Alice = "alice";

    private static readonly EventStreamOptions Quick = new()
    {
        PollInterval = TimeSpan.FromMilliseconds(100),
        HeartbeatInterval = TimeSpan.FromSeconds(30),
    };

    private static readonly TimeSpan ServerLetGo = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task FullTask_StreamsUserStepsThoughtsAndDone_InOrderWithIds_ThenCloses()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        await using var server = await EventStreamServer.StartAsync(host, Quick);
        var id = await CreateAsync(host, "[steps=3] [delay=100] full task");

        await using var stream = await server.OpenAsync(id);
        Assert.Equal(200, (int)stream.Response.StatusCode);
        Assert.Equal("text/event-stream", stream.Response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("no-cache", stream.Response.Headers.CacheControl!.ToString());
        Assert.Equal("no", Assert.Single(stream.Response.Headers.GetValues("X-Accel-Buffering")));
        var events = await stream.ReadToEndAsync();

        Assert.Equal(["user", "step", "thought", "step", "thought", "step", "thought", "done"], events.Select(e => e.Event));
        var stored = await host.MessagesAsync(Alice, id);
        var messageEvents = events.Where(e => e.Event != "step").ToList();
        Assert.Equal(stored.Select(m => m.Id), messageEvents.Select(e => e.MessageId));
        for (var i = 0; i < stored.Count; i++)
        {
            AssertMessageEvent(stored[i], messageEvents[i]);
        }

        var steps = events.Where(e => e.Event == "step").ToList();
        Assert.Equal([1, 2, 3], steps.Select(s => s.Json.GetProperty("step").GetInt32()));
        foreach (var step in steps)
        {
            // A step event introduces the message right after it and shares its id.
            var introduced = events[events.IndexOf(step) + 1];
            Assert.Equal(introduced.Id, step.Id);
            Assert.Equal(["step", "task", "message_id"], step.Json.EnumerateObject().Select(p => p.Name));
            Assert.Equal(introduced.MessageId, step.Json.GetProperty("message_id").GetInt64());
            Assert.Equal(introduced.Json.GetProperty("metadata").GetProperty("task").GetInt32(), step.Json.GetProperty("task").GetInt32());
        }

        var done = events[^1].Json;
        Assert.Equal(JsonValueKind.Object, done.GetProperty("result").ValueKind);
        Assert.StartsWith("Finished", done.GetProperty("result").GetProperty("summary").GetString(), StringComparison.Ordinal);
        Assert.True(JsonElement.DeepEquals(done.GetProperty("content"), JsonDocument.Parse(done.GetProperty("text").GetString()!).RootElement));
        await stream.ServerWork.WaitAsync(ServerLetGo);
        Assert.Empty(server.Unhandled);
    }

    [Fact]
    public async Task Resume_WithLastEventIdMidTask_YieldsExactlyTheRemainder()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        await using var server = await EventStreamServer.StartAsync(host, Quick);
        var id = await CreateAsync(host, "[steps=4] [delay=250] resumable task");

        List<SseEvent> before;
        await using (var first = await server.OpenAsync(id))
        {
            before = await first.ReadUntilAsync(e => e.Event == "thought" && e.Json.GetProperty("metadata").GetProperty("step").GetInt32() == 2);
        }

        var lastSeen = before[^1].Id!;
        await using var second = await server.OpenAsync(id, headers: new Dictionary<string, string> { ["Last-Event-ID"] = lastSeen });
        var after = await second.ReadToEndAsync();

        var stored = await host.MessagesAsync(Alice, id);
        Assert.Equal(stored.Select(m => m.Id), before.Concat(after).Where(e => e.Event != "step").Select(e => e.MessageId));
        Assert.Equal(["step", "thought", "step", "thought", "done"], after.Select(e => e.Event));
        Assert.Equal(long.Parse(lastSeen) + 1, after[0].MessageId);
        Assert.Equal([3, 4], after.Where(e => e.Event == "step").Select(e => e.Json.GetProperty("step").GetInt32()));

        // Resuming inside a step does not announce the step again; the header wins over after_id.
        var done = stored[^1];
        await using var third = await server.OpenAsync(id, "?after_id=1",
            headers: new Dictionary<string, string> { ["Last-Event-ID"] = (done.Id - 1).ToString() });
        var rest = await third.ReadToEndAsync();
        var only = Assert.Single(rest);
        Assert.Equal(("done", done.Id), (only.Event, only.MessageId));
    }

    [Fact]
    public async Task EventTypesFilter_SendsOnlyThoseTypes_AndStillClosesAtDone()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        await using var server = await EventStreamServer.StartAsync(host, Quick);
        var id = await CreateAsync(host, "[steps=3] filtered task");
        await host.WaitForStatusAsync(Alice, id, "finished");

        await using var thoughts = await server.OpenAsync(id, "?event_types=thought,%20DONE");
        Assert.Equal(["thought", "thought", "thought", "done"], (await thoughts.ReadToEndAsync()).Select(e => e.Event));

        await using var steps = await server.OpenAsync(id, "?event_types=step");
        var onlySteps = await steps.ReadToEndAsync();
        Assert.Equal(["step", "step", "step"], onlySteps.Select(e => e.Event));

        await using var all = await server.OpenAsync(id, "?event_types=");
        Assert.Equal(8, (await all.ReadToEndAsync()).Count);
    }

    [Fact]
    public async Task Heartbeat_ArrivesOnAnIdleStream_WithoutId_AndOnlyWhenAskedFor()
    {
        var options = Quick with { HeartbeatInterval = TimeSpan.FromMilliseconds(200) };
        await using var host = await SessionTestHost.StartAsync(azurite);
        await using var server = await EventStreamServer.StartAsync(host, options);
        var idle = await CreateAsync(host, goal: null);

        await using (var stream = await server.OpenAsync(idle))
        {
            for (var i = 0; i < 2; i++)
            {
                var heartbeat = (await stream.ReadAsync(TimeSpan.FromSeconds(5)))!;
                Assert.Equal("heartbeat", heartbeat.Event);
                Assert.Null(heartbeat.Id);
                Assert.Equal(["timestamp"], heartbeat.Json.EnumerateObject().Select(p => p.Name));
                Assert.Matches(SessionsApi.WireTime(), heartbeat.Json.GetProperty("timestamp").GetString());
            }
        }

        await using (var asked = await server.OpenAsync(idle, "?event_types=heartbeat"))
        {
            Assert.Equal("heartbeat", (await asked.ReadAsync(TimeSpan.FromSeconds(5)))!.Event);
        }

        // A task that runs for many heartbeat intervals: with heartbeat filtered out, only its done arrives.
        var busy = await CreateAsync(host, "[steps=3] [delay=400] slow task");
        await using var filtered = await server.OpenAsync(busy, "?event_types=done");
        Assert.Equal(["done"], (await filtered.ReadToEndAsync()).Select(e => e.Event));
    }

    [Fact]
    public async Task FailingTask_StreamsTheError_ThenCloses()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        await using var server = await EventStreamServer.StartAsync(host, Quick);
        var id = await CreateAsync(host, "[fail] [delay=100] doomed task");

        await using var stream = await server.OpenAsync(id);
        var events = await stream.ReadToEndAsync();

        Assert.Equal(["user", "step", "thought", "step", "error"], events.Select(e => e.Event));
        var error = events[^1].Json;
        Assert.Equal("ERROR", error.GetProperty("type").GetString());
        Assert.Equal("Scripted failure at step 2", error.GetProperty("error").GetString());
        Assert.Equal(error.GetProperty("text").GetString(), error.GetProperty("error").GetString());
        Assert.False(error.TryGetProperty("result", out _));
        await stream.ServerWork.WaitAsync(ServerLetGo);
    }

    [Fact]
    public async Task IncludeHistoryFalse_StartsAfterTheCurrentMessages()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        await using var server = await EventStreamServer.StartAsync(host, Quick);
        var id = await CreateAsync(host, "[steps=2] first task");
        var finished = await host.WaitForStatusAsync(Alice, id, "finished");

        await using var stream = await server.OpenAsync(id, "?include_history=false");
        await host.Gateway.SendAsync(Alice, id, CommandEnvelope.Message, "[steps=2] [delay=100] second task", null, default);
        var events = await stream.ReadToEndAsync();

        Assert.Equal(["user", "step", "thought", "step", "thought", "done"], events.Select(e => e.Event));
        Assert.Equal(finished.LastMessageId + 1, events[0].MessageId);
        Assert.Equal("[steps=2] [delay=100] second task", events[0].Json.GetProperty("text").GetString());
    }

    [Fact]
    public async Task PauseAndResume_AreStreamedAsStatusEvents()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        await using var server = await EventStreamServer.StartAsync(host, Quick);
        var id = await CreateAsync(host, "[steps=200] [delay=200] long task");

        await using var stream = await server.OpenAsync(id, "?event_types=paused,resumed");
        await host.Gateway.SendAsync(Alice, id, CommandEnvelope.Pause, null, null, default);
        var paused = (await stream.ReadAsync(TimeSpan.FromSeconds(10)))!;
        await host.Gateway.SendAsync(Alice, id, CommandEnvelope.Resume, null, null, default);
        var resumed = (await stream.ReadAsync(TimeSpan.FromSeconds(10)))!;

        Assert.Equal(("paused", (string?)null, "paused"), (paused.Event, paused.Id, paused.Json.GetProperty("status").GetString()));
        Assert.Equal(("resumed", (string?)null, "running"), (resumed.Event, resumed.Id, resumed.Json.GetProperty("status").GetString()));
        Assert.Matches(SessionsApi.WireTime(), resumed.Json.GetProperty("timestamp").GetString());
        await host.Gateway.SendAsync(Alice, id, CommandEnvelope.Cancel, null, null, default);
    }

    [Fact]
    public async Task Sanitize_CleansTextByDefault_AndKeepsItRawWhenOff()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        await using var server = await EventStreamServer.StartAsync(host, Quick);
        var id = await CreateAsync(host, goal: null);
        const string raw = "[steps=1] \u001b[31mred\u001b[0m task";
        await host.Gateway.SendAsync(Alice, id, CommandEnvelope.Message, raw, null, default);

        await using var clean = await server.OpenAsync(id, "?event_types=user");
        Assert.Equal("[steps=1] red task", (await clean.ReadToEndAsync()).Single().Json.GetProperty("text").GetString());
        await using var unclean = await server.OpenAsync(id, "?event_types=user&sanitize=false");
        Assert.Equal(raw, (await unclean.ReadToEndAsync()).Single().Json.GetProperty("content").GetString());
    }

    [Fact]
    public async Task DeletedSession_EndsTheStream()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        await using var server = await EventStreamServer.StartAsync(host, Quick);
        var id = await CreateAsync(host, goal: null);
        await using var stream = await server.OpenAsync(id);

        Assert.True(await host.Gateway.DeleteAsync(Alice, id, default));

        Assert.Empty(await stream.ReadToEndAsync(TimeSpan.FromSeconds(10)));
        await stream.ServerWork.WaitAsync(ServerLetGo);
    }

    [Fact]
    public async Task ClientDisconnect_EndsTheServerLoopPromptly()
    {
        // A long poll interval: the loop must let go when the client leaves, not at its next poll.
        var options = Quick with { PollInterval = TimeSpan.FromSeconds(20), HeartbeatInterval = TimeSpan.FromSeconds(60) };
        await using var host = await SessionTestHost.StartAsync(azurite);
        await using var server = await EventStreamServer.StartAsync(host, options);
        var id = await CreateAsync(host, goal: null);

        var stream = await server.OpenAsync(id);
        Assert.Equal(200, (int)stream.Response.StatusCode);
        var work = stream.ServerWork;
        await Task.Delay(200); // let the server reach its wait
        Assert.False(work.IsCompleted, "the stream of an idle session should stay open");

        var clock = Stopwatch.StartNew();
        await stream.DisposeAsync();
        await work.WaitAsync(ServerLetGo);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"the server took {clock.Elapsed} to notice the client left");
        Assert.Empty(server.Unhandled);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("*/*")]
    [InlineData("text/*")]
    [InlineData("text/event-stream")]
    [InlineData("application/json;q=0.9, text/event-stream")]
    public async Task AcceptThatAllowsEventStream_Streams(string? accept)
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        await using var server = await EventStreamServer.StartAsync(host, Quick);
        var id = await CreateAsync(host, "[steps=1] quick task");

        await using var stream = await server.OpenAsync(id, headers: accept is null ? null : new Dictionary<string, string> { ["Accept"] = accept });

        Assert.Equal(200, (int)stream.Response.StatusCode);
        Assert.Equal("done", (await stream.ReadToEndAsync())[^1].Event);
    }

    [Fact]
    public async Task AcceptThatExcludesEventStream_Is406WithErrorBody()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        await using var server = await EventStreamServer.StartAsync(host, Quick);
        var id = await CreateAsync(host, goal: null);

        foreach (var accept in new[] { "application/json", "text/html", "text/event-stream;q=0, */*" })
        {
            await using var answer = await server.OpenAsync(id, headers: new Dictionary<string, string> { ["Accept"] = accept });
            await AssertErrorAsync(answer, 406, "not_acceptable");
        }
    }

    [Fact]
    public async Task OtherOwnersOrUnknownSession_Is404_AndNoKeyIs401()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        await using var server = await EventStreamServer.StartAsync(host, Quick);
        var id = await CreateAsync(host, goal: null);

        await using (var bob = await server.OpenAsync(id, bearer: SessionTestHost.BobKey))
        {
            await AssertErrorAsync(bob, 404, "not_found");
        }

        await using (var unknown = await server.OpenAsync(Guid.NewGuid().ToString("D")))
        {
            await AssertErrorAsync(unknown, 404, "not_found");
        }

        await using (var malformed = await server.OpenAsync("not-a-session"))
        {
            await AssertErrorAsync(malformed, 404, "not_found");
        }

        await using var anonymous = await server.OpenAsync(id, bearer: null);
        await AssertErrorAsync(anonymous, 401, "unauthorized");
    }

    [Fact]
    public async Task InvalidQueryOrLastEventId_Is422()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        await using var server = await EventStreamServer.StartAsync(host, Quick);
        var id = await CreateAsync(host, goal: null);

        foreach (var query in new[] { "?event_types=thought,bogus", "?event_types=steps", "?after_id=-1", "?after_id=x", "?include_history=maybe", "?sanitize=2" })
        {
            await using var answer = await server.OpenAsync(id, query);
            await AssertErrorAsync(answer, 422, "validation_error");
        }

        foreach (var lastEventId in new[] { "abc", "-1", "1.5", "+3" })
        {
            await using var answer = await server.OpenAsync(id, headers: new Dictionary<string, string> { ["Last-Event-ID"] = lastEventId });
            await AssertErrorAsync(answer, 422, "validation_error");
        }

        Assert.Empty(server.Unhandled);
    }

    private static async Task<string> CreateAsync(SessionTestHost host, string? goal) =>
        (await host.Gateway.CreateAsync(Alice, new NewSession("agi-0", 100, goal, null), null, default)).View.SessionId;

    private static void AssertMessageEvent(SessionMessage stored, SseEvent received)
    {
        var expectedEvent = stored.Type.ToLowerInvariant();
        Assert.Equal(expectedEvent, received.Event);
        Assert.Equal(stored.Id.ToString(), received.Id);
        var data = received.Json;
        Assert.Equal(stored.Id, data.GetProperty("message_id").GetInt64());
        Assert.Equal(stored.Type, data.GetProperty("type").GetString());
        Assert.True(JsonElement.DeepEquals(stored.Content, data.GetProperty("content")), $"content of {received}");
        var text = stored.Content.ValueKind == JsonValueKind.String ? stored.Content.GetString() : stored.Content.GetRawText();
        Assert.Equal(text, data.GetProperty("text").GetString());
        Assert.Matches(SessionsApi.WireTime(), data.GetProperty("timestamp").GetString());
        Assert.True(JsonElement.DeepEquals(stored.Metadata, data.GetProperty("metadata")), $"metadata of {received}");
    }

    private static async Task AssertErrorAsync(SseConnection answer, int status, string code)
    {
        Assert.Equal(status, (int)answer.Response.StatusCode);
        Assert.Equal("application/json", answer.Response.Content.Headers.ContentType!.MediaType);
        var body = await answer.JsonBodyAsync();
        Assert.Equal(["detail", "error", "message"], body.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(code, body.GetProperty("error").GetString());
        Assert.Equal(body.GetProperty("message").GetString(), body.GetProperty("detail").GetString());
    }
}
