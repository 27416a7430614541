using System.Text.Json;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Agents.Llm;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Http;
using AgentSessions.Functions.Tests.Infrastructure;
using static AgentSessions.Functions.Tests.Agents.Llm.FakeModelServer;

namespace AgentSessions.Functions.Tests.Agents.Llm;

/// <summary>
/// The llm agent behind the real session orchestration on the in-process Durable engine, the real step activity
/// with its retry policy, and the real message store on Azurite; the model is the local chat-completions server.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class LlmAgentSessionTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private const string Owner = "alice";

    private FakeModelServer server = null!;

    public async Task InitializeAsync() => server = await FakeModelServer.StartAsync();

    public async Task DisposeAsync() => await server.DisposeAsync();

    private Task<SessionTestHost> HostAsync(Func<LlmAgentOptions, LlmAgentOptions>? configure = null) =>
        SessionTestHost.StartAsync(azurite, agents: new AgentCatalog([server.Agent("llm", configure)]));

    private static async Task<string> CreateAsync(SessionTestHost host, string goal, string? startUrl = null)
    {
        var (created, _) = await host.Gateway.CreateAsync(Owner, new NewSession("llm", 20, goal, startUrl), null, CancellationToken.None);
        return created.SessionId;
    }

    private static Task<CommandAck> SendAsync(SessionTestHost host, string id, string kind, string? text = null) =>
        host.Gateway.SendAsync(Owner, id, kind, text, null, CancellationToken.None);

    private static TaskCompletionSource Gate() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    [Fact]
    public async Task WholeSession_ThoughtsQuestionPageAndFinish_ThenASecondTask_OnTheDurableEngine()
    {
        server.Pages["/pages/forecast"] = context =>
        {
            context.Response.ContentType = "text/html";
            return Microsoft.AspNetCore.Http.HttpResponseWritingExtensions.WriteAsync(context.Response,
                "<html><body><h1>Lisbon</h1><p>Sunny, 24 C</p></body></html>", context.RequestAborted);
        };
        var forecast = new Uri(server.BaseUrl, "/pages/forecast").AbsoluteUri;
        server.ThenCalls(Call("think", new { text = "I need the city first" }), Call("log", new { text = "Planning the trip" }))
            .ThenCalls(Call("ask_user", new { question = "Which city?" }))
            .ThenCalls(Call("fetch_url", new { url = forecast }))
            .ThenCalls(Call("think", new { text = "Sunny in Lisbon" }), Call("finish", new { summary = "Pack for sun: 24 C in Lisbon" }))
            .ThenCalls(Call("finish", new { summary = "Sunscreen added" }));
        await using var host = await HostAsync(o => o with { FetchUrl = true, FetchAllowPrivateNetworks = true });

        var id = await CreateAsync(host, "Help me pack for a trip");
        await host.WaitForStatusAsync(Owner, id, "waiting_for_input");
        await SendAsync(host, id, CommandEnvelope.Message, "Lisbon");
        await host.WaitForStatusAsync(Owner, id, "finished");
        await SendAsync(host, id, CommandEnvelope.Message, "Add sunscreen to the list");
        await Eventually.ValueAsync(() => host.MessagesAsync(Owner, id), ms => ms.Count(m => m.Type == MessageTypes.Done) == 2, null, "the second DONE");
        await host.WaitForStatusAsync(Owner, id, "finished");

        var messages = await host.MessagesAsync(Owner, id);
        Assert.Equal(
        [
            "USER Help me pack for a trip", "THOUGHT I need the city first", "LOG Planning the trip", "QUESTION Which city?", "USER Lisbon",
            "LOG fetch_url", "THOUGHT Sunny in Lisbon", "DONE Pack for sun: 24 C in Lisbon", "USER Add sunscreen to the list", "DONE Sunscreen added",
        ], messages.Select(Describe));
        Assert.Equal("Lisbon\nSunny, 24 C", messages[5].Content.GetProperty("text").GetString());
        var steps = messages.Where(m => m.Type != MessageTypes.User)
            .Select(m => (m.Metadata.GetProperty("task").GetInt32(), m.Metadata.GetProperty("step").GetInt32()));
        Assert.Equal([(1, 1), (1, 1), (1, 2), (1, 3), (1, 4), (1, 4), (2, 1)], steps);
        Assert.All(messages.Where(m => m.Type != MessageTypes.User), m =>
        {
            Assert.Equal(Model, m.Metadata.GetProperty("model").GetString());
            Assert.True(m.Metadata.GetProperty("input_tokens").GetInt32() > 100);
        });

        Assert.Equal(5, server.Requests.Count);
        Assert.Empty(server.Unexpected);
        Assert.Equal(
        [
            "user: Help me pack for a trip",
            """assistant: think({"text":"I need the city first"}) log({"text":"Planning the trip"})""",
            "tool: [call_3_0] Recorded.",
            "tool: [call_3_1] Recorded.",
            """assistant: ask_user({"question":"Which city?"})""",
            "tool: [call_6_0] The question was shown to the user. Their answer arrives as a user message.",
            "user: Lisbon",
            $$"""assistant: fetch_url({"url":"{{forecast}}"})""",
        ], server.Requests[4].Transcript.Skip(1).Take(8));
        Assert.Equal("user: Add sunscreen to the list", server.Requests[4].Transcript[^2]);
        Assert.Equal("system: You are on task 2 of this session, step 1 of at most 20. There is no current page.", server.Requests[4].Transcript[^1]);
    }

    [Fact]
    public async Task Cost_IsReadFromTheMessagesThroughTheApi_OneTurnCountedOnce()
    {
        server.ThenCalls(Call("think", new { text = "a" }), Call("log", new { text = "b" }))
            .ThenCalls(Call("finish", new { summary = "c" }));
        await using var host = await HostAsync();
        var id = await CreateAsync(host, "Task");
        await host.WaitForStatusAsync(Owner, id, "finished");

        var answer = await HttpCall.Get($"/v1/sessions/{id}/messages").Bearer(SessionTestHost.AliceKey)
            .InvokeAsync(r => host.MessageFunctions.GetAsync(r, id, host.Client, default));

        Assert.Equal(200, answer.Status);
        var agentMessages = answer.Json.GetProperty("messages").EnumerateArray().Where(m => m.GetProperty("type").GetString() != "USER").ToList();
        Assert.All(agentMessages, m => Assert.DoesNotContain(m.GetProperty("metadata").EnumerateObject(), p => p.Name.StartsWith('_')));
        var turns = agentMessages.GroupBy(m => (m.GetProperty("metadata").GetProperty("task").GetInt32(), m.GetProperty("metadata").GetProperty("step").GetInt32()))
            .Select(g => g.First().GetProperty("metadata")).ToList();
        Assert.Equal(2, turns.Count);
        Assert.Equal((100 + 3) + (100 + 6), turns.Sum(t => t.GetProperty("input_tokens").GetInt32()));
        Assert.Equal((10 + 3) + (10 + 6), turns.Sum(t => t.GetProperty("output_tokens").GetInt32()));
    }

    [Fact]
    public async Task Question_AnsweredByTheUser_IsTheNextTurnsUserMessage()
    {
        server.ThenCalls(Call("ask_user", new { question = "Window or aisle?" }, id: "call_q"))
            .ThenCalls(Call("finish", new { summary = "Booked an aisle seat" }));
        await using var host = await HostAsync();
        var id = await CreateAsync(host, "Book my seat");

        await host.WaitForStatusAsync(Owner, id, "waiting_for_input");
        Assert.Single(server.Requests);
        await SendAsync(host, id, CommandEnvelope.Message, "Aisle, please");
        await host.WaitForStatusAsync(Owner, id, "finished");

        Assert.Equal(
        [
            "user: Book my seat",
            """assistant: ask_user({"question":"Window or aisle?"})""",
            "tool: [call_q] The question was shown to the user. Their answer arrives as a user message.",
            "user: Aisle, please",
            "system: You are on task 1 of this session, step 2 of at most 20.",
        ], server.Requests[1].Transcript.Skip(1));
        var messages = await host.MessagesAsync(Owner, id);
        Assert.Equal("Booked an aisle seat", messages[^1].Content.GetProperty("summary").GetString());
    }

    [Fact]
    public async Task PauseMidTurn_KeepsTheTurn_StartsNothingUntilResume_AndAMessageSentWhilePausedReachesTheNextTurn()
    {
        var gate = Gate();
        var answered = Gate();
        server.Then(After(gate.Task, Reply([Call("think", new { text = "Looking at flights" })]), answered))
            .ThenCalls(Call("finish", new { summary = "Booked the morning flight" }));
        await using var host = await HostAsync();
        var id = await CreateAsync(host, "Book a flight");
        await server.WaitForRequestAsync(1);

        var pause = await SendAsync(host, id, CommandEnvelope.Pause);
        Assert.Equal("paused", pause.Result!.Status);
        var message = await SendAsync(host, id, CommandEnvelope.Message, "Prefer the morning");
        Assert.Equal("paused", message.Result!.Status);
        gate.SetResult();
        await answered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await Eventually.ValueAsync(() => host.MessagesAsync(Owner, id), ms => ms.Any(m => m.Type == MessageTypes.Thought), null, "the paused turn's THOUGHT");

        Assert.Equal("paused", (await host.ViewAsync(Owner, id)).Status);
        Assert.Single(server.Requests);
        var resume = await SendAsync(host, id, CommandEnvelope.Resume);
        Assert.Equal("running", resume.Result!.Status);
        await host.WaitForStatusAsync(Owner, id, "finished");

        Assert.Equal(
        [
            "user: Book a flight",
            """assistant: think({"text":"Looking at flights"})""",
            "tool: [call_3_0] Recorded.",
            "user: Prefer the morning",
            "system: You are on task 1 of this session, step 2 of at most 20.",
        ], server.Requests[1].Transcript.Skip(1));
        Assert.Equal(
            ["USER Book a flight", "USER Prefer the morning", "THOUGHT Looking at flights", "DONE Booked the morning flight"],
            (await host.MessagesAsync(Owner, id)).Select(Describe));
    }

    [Fact]
    public async Task CancelMidTurn_FinishesTheTaskAtOnce_AndTheLateTurnIsDiscarded()
    {
        var gate = Gate();
        var answered = Gate();
        server.Then(After(gate.Task, Reply([Call("think", new { text = "late thought" }), Call("finish", new { summary = "late" })]), answered))
            .ThenCalls(Call("finish", new { summary = "Second task done" }));
        await using var host = await HostAsync();
        var id = await CreateAsync(host, "A long task");
        await server.WaitForRequestAsync(1);

        var cancel = await SendAsync(host, id, CommandEnvelope.Cancel);
        Assert.Equal("finished", cancel.View.Status);
        gate.SetResult();
        await answered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await SendAsync(host, id, CommandEnvelope.Message, "Another task");
        await Eventually.ValueAsync(() => host.MessagesAsync(Owner, id), ms => ms.Any(m => m.Type == MessageTypes.Done), null, "the second task's DONE");

        var messages = await host.MessagesAsync(Owner, id);
        Assert.Equal(["USER A long task", "LOG Task cancelled by user", "USER Another task", "DONE Second task done"], messages.Select(Describe));
        Assert.Equal(
        [
            "user: A long task",
            "system: Session event (LOG): Task cancelled by user",
            "user: Another task",
            "system: You are on task 2 of this session, step 1 of at most 20.",
        ], server.Requests[1].Transcript.Skip(1));
    }

    [Fact]
    public async Task RateLimited_ThenAnswered_IsRetried_AndFinishesWithoutError()
    {
        server.Then(Status(429, """{"error":{"message":"Rate limit reached","type":"requests"}}"""))
            .ThenCalls(Call("finish", new { summary = "Done after a retry" }));
        await using var host = await HostAsync();
        var id = await CreateAsync(host, "Task");

        await host.WaitForStatusAsync(Owner, id, "finished");

        Assert.Equal(2, server.Requests.Count);
        Assert.Equal(server.Requests[0].Body.GetRawText(), server.Requests[1].Body.GetRawText());
        Assert.Equal(["USER Task", "DONE Done after a retry"], (await host.MessagesAsync(Owner, id)).Select(Describe));
    }

    [Fact]
    public async Task Timeout_ThenAnswered_IsRetried()
    {
        server.Then(Hang()).ThenCalls(Call("finish", new { summary = "Second attempt" }));
        await using var host = await HostAsync(o => o with { Timeout = TimeSpan.FromSeconds(1) });
        var id = await CreateAsync(host, "Task");

        await host.WaitForStatusAsync(Owner, id, "finished");

        Assert.Equal(2, server.Requests.Count);
        Assert.DoesNotContain(await host.MessagesAsync(Owner, id), m => m.Type == MessageTypes.Error);
    }

    [Fact]
    public async Task Timeouts_OnEveryAttempt_EndTheTaskWithAnErrorNamingTheTimeout()
    {
        server.Then([.. Enumerable.Range(0, AgentRetry.MaxAttempts).Select(_ => Hang())]);
        await using var host = await HostAsync(o => o with { Timeout = TimeSpan.FromSeconds(1) });
        var id = await CreateAsync(host, "Task");

        await host.WaitForStatusAsync(Owner, id, "error", TimeSpan.FromSeconds(60));

        Assert.Equal(AgentRetry.MaxAttempts, server.Requests.Count);
        var error = Assert.Single(await host.MessagesAsync(Owner, id), m => m.Type == MessageTypes.Error);
        Assert.Contains("did not answer within 1 s (setting Agents__llm__TimeoutSeconds)", error.Content.GetString());
        Assert.Equal("agent_failed", error.Metadata.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task MalformedToolCall_EndsTheTaskWithAClearError_WithoutRetrying()
    {
        server.ThenCalls(new FakeToolCall("finish", "{\"summary\": "));
        await using var host = await HostAsync();
        var id = await CreateAsync(host, "Task");

        await host.WaitForStatusAsync(Owner, id, "error");

        Assert.Single(server.Requests);
        var error = Assert.Single(await host.MessagesAsync(Owner, id), m => m.Type == MessageTypes.Error);
        Assert.Equal("The model's call to 'finish' could not be used: it has arguments that are not a JSON object.", error.Content.GetString());
        Assert.Equal("malformed_tool_call", error.Metadata.GetProperty("reason").GetString());
        Assert.Equal(Model, error.Metadata.GetProperty("model").GetString());
    }

    [Fact]
    public async Task RefusedCall_EndsTheTaskAtOnce_QuotingTheEndpoint()
    {
        server.Then(Status(401, """{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"""));
        await using var host = await HostAsync();
        var id = await CreateAsync(host, "Task");

        await host.WaitForStatusAsync(Owner, id, "error");

        Assert.Single(server.Requests);
        var error = Assert.Single(await host.MessagesAsync(Owner, id), m => m.Type == MessageTypes.Error);
        Assert.Contains("The model endpoint of agent 'llm' answered HTTP 401", error.Content.GetString());
        Assert.Contains("Incorrect API key provided", error.Content.GetString());
    }

    [Fact]
    public async Task MaxSteps_BoundsTheTask_AsForAnyAgent()
    {
        server.ThenCalls(Call("think", new { text = "one" })).ThenCalls(Call("think", new { text = "two" }));
        await using var host = await HostAsync();
        var (created, _) = await host.Gateway.CreateAsync(Owner, new NewSession("llm", 2, "Think forever", null), null, CancellationToken.None);

        await host.WaitForStatusAsync(Owner, created.SessionId, "error");

        Assert.Equal(2, server.Requests.Count);
        Assert.EndsWith("step 2 of at most 2. This is the task's last step: call finish, or fail, now.", server.Requests[1].Transcript[^1]);
        var error = (await host.MessagesAsync(Owner, created.SessionId))[^1];
        Assert.Equal("max_steps", error.Metadata.GetProperty("reason").GetString());
    }

    private static string Describe(SessionMessage message) => message.Type + " " + (message.Content.ValueKind switch
    {
        JsonValueKind.String => message.Content.GetString(),
        _ when message.Content.TryGetProperty("summary", out var summary) => summary.GetString(),
        _ => LlmConversation.StringOf(message.Metadata, "tool"),
    });
}
