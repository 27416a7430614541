using System.Text.Json;
using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Agents.Llm;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Tests.Infrastructure;
using Azure.Data.Tables;
using static AgentSessions.Functions.Tests.Agents.Llm.FakeModelServer;

namespace AgentSessions.Functions.Tests.Agents.Llm;

/// <summary>
/// The llm agent against a local OpenAI-compatible server speaking the chat-completions wire format, with the real
/// message store on Azurite and the real decider building the transcript: what it sends, how each answer becomes
/// session messages, and how failures are classified.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class LlmAgentTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private FakeModelServer server = null!;
    private IMessageStore store = null!;

    public async Task InitializeAsync()
    {
        server = await FakeModelServer.StartAsync();
        store = new TableMessageStore(new TableClient(azurite.ConnectionString, "llm" + Guid.NewGuid().ToString("N")[..20]));
    }

    public async Task DisposeAsync() => await server.DisposeAsync();

    private LlmAgent Agent(Func<LlmAgentOptions, LlmAgentOptions>? configure = null) =>
        new(server.Options(configure: configure), store, AgentHttpClients.Shared, TimeProvider.System);

    private DeciderSession Session(int maxSteps = 10) => new(store, maxSteps: maxSteps);

    [Fact]
    public async Task Step_SendsModelTemperatureMaxTokensToolsAndRequiredToolChoice_WithTheKeyAsBearer()
    {
        server.ThenCalls(Call("think", new { text = "planning" }));
        var session = Session();
        var step = await session.StartAsync("Compare two laptops");

        await Agent().ExecuteStepAsync(step!, CancellationToken.None);

        var request = Assert.Single(server.Requests);
        Assert.Equal("/v1/chat/completions", request.Path);
        Assert.Equal("Bearer sk-test-0123456789", request.Header("Authorization"));
        var body = request.Body;
        Assert.Equal(Model, body.GetProperty("model").GetString());
        Assert.Equal(0.2, body.GetProperty("temperature").GetDouble(), 3);
        Assert.Equal(256, body.GetProperty("max_completion_tokens").GetInt32());
        Assert.Equal("required", body.GetProperty("tool_choice").GetString());
        Assert.False(body.TryGetProperty("stream", out var stream) && stream.GetBoolean());
        Assert.Equal(["think", "log", "ask_user", "finish", "fail"],
            body.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("function").GetProperty("name").GetString()));
        var think = body.GetProperty("tools")[0].GetProperty("function").GetProperty("parameters");
        Assert.Equal(["text"], think.GetProperty("required").EnumerateArray().Select(r => r.GetString()));

        var transcript = request.Transcript;
        Assert.Equal(3, transcript.Count);
        Assert.StartsWith("system: You are an agent that works on tasks", transcript[0]);
        Assert.Equal("user: Compare two laptops", transcript[1]);
        Assert.Equal("system: You are on task 1 of this session, step 1 of at most 10.", transcript[2]);
    }

    [Theory]
    [InlineData("api-key", "api-key", "sk-test-0123456789")]
    [InlineData("Authorization", "Authorization", "Bearer sk-test-0123456789")]
    public async Task ApiKeyHeader_CarriesTheKey(string header, string expectedHeader, string expectedValue)
    {
        server.ThenCalls(Call("think", new { text = "x" }));
        var step = await Session().StartAsync("Task");

        await Agent(o => o with { ApiKeyHeader = header }).ExecuteStepAsync(step!, CancellationToken.None);

        var request = Assert.Single(server.Requests);
        Assert.Equal(expectedValue, request.Header(expectedHeader));
        if (header != "Authorization")
        {
            Assert.Null(request.Header("Authorization"));
        }
    }

    [Fact]
    public async Task NoKey_SendsNoAuthorizationAtAll()
    {
        server.ThenCalls(Call("think", new { text = "x" }));
        var step = await Session().StartAsync("Task");

        await Agent(o => o with { Credential = LlmCredential.None, ApiKey = null }).ExecuteStepAsync(step!, CancellationToken.None);

        Assert.Null(Assert.Single(server.Requests).Header("Authorization"));
    }

    [Fact]
    public async Task Settings_ToolChoiceAutoFetchUrlAndSystemPrompt_ShapeTheRequest()
    {
        server.ThenCalls(Call("think", new { text = "x" }));
        var step = await Session().StartAsync("Task", startUrl: "https://example.com/start");

        await Agent(o => o with { RequireToolCall = false, FetchUrl = true, SystemPrompt = "You are a terse research agent.", Temperature = null })
            .ExecuteStepAsync(step!, CancellationToken.None);

        var request = Assert.Single(server.Requests);
        Assert.Equal("auto", request.Body.GetProperty("tool_choice").GetString());
        Assert.False(request.Body.TryGetProperty("temperature", out _));
        Assert.Contains("fetch_url", request.Body.GetProperty("tools").EnumerateArray().Select(t => t.GetProperty("function").GetProperty("name").GetString()));
        Assert.Equal("system: You are a terse research agent.", request.Transcript[0]);
        Assert.Equal("user: Task\n\nStart URL: https://example.com/start", request.Transcript[1]);
        Assert.Equal("system: You are on task 1 of this session, step 1 of at most 10. The current page is https://example.com/start.",
            request.Transcript[2]);
    }

    [Fact]
    public async Task Turn_WithTextThinkLogAndFinish_WritesAMessageEach_InOrder_WithTheTurnsUsage()
    {
        server.Then(Reply([Call("think", new { text = "Both have 16 GB" }), Call("log", new { text = "Compared specs" }),
            Call("finish", new { summary = "Laptop A is cheaper" })], text: "Let me wrap up."));
        var step = await Session().StartAsync("Compare two laptops");

        var result = await Agent().ExecuteStepAsync(step!, CancellationToken.None);

        Assert.Equal(AgentStepStatus.Finished, result.Status);
        Assert.Equal([MessageTypes.Thought, MessageTypes.Thought, MessageTypes.Log, MessageTypes.Done], result.Messages.Select(m => m.Type));
        Assert.Equal("Let me wrap up.", result.Messages[0].Content.GetString());
        Assert.Equal("Both have 16 GB", result.Messages[1].Content.GetString());
        Assert.Equal("Compared specs", result.Messages[2].Content.GetString());
        Assert.Equal("Laptop A is cheaper", result.Messages[3].Content.GetProperty("summary").GetString());
        Assert.Equal([null, "think", "log", "finish"], result.Messages.Select(m => LlmConversation.StringOf(m.Metadata!.Value, "tool")));
        foreach (var message in result.Messages)
        {
            var metadata = message.Metadata!.Value;
            Assert.Equal(Model, metadata.GetProperty("model").GetString());
            Assert.Equal(103, metadata.GetProperty("input_tokens").GetInt32());
            Assert.Equal(13, metadata.GetProperty("output_tokens").GetInt32());
            Assert.True(metadata.GetProperty("latency_ms").GetInt64() >= 0);
            Assert.Equal(step!.LastMessageId, metadata.GetProperty("_seen_id").GetInt64());
        }
    }

    [Fact]
    public async Task AnswerWithoutUsage_StillNamesTheModel_AndLeavesTokensNull()
    {
        server.Then(Reply([Call("think", new { text = "x" })], usage: false));
        var step = await Session().StartAsync("Task");

        var result = await Agent().ExecuteStepAsync(step!, CancellationToken.None);

        var metadata = Assert.Single(result.Messages).Metadata!.Value;
        Assert.Equal(Model, metadata.GetProperty("model").GetString());
        Assert.Equal(JsonValueKind.Null, metadata.GetProperty("input_tokens").ValueKind);
        Assert.Equal(JsonValueKind.Null, metadata.GetProperty("output_tokens").ValueKind);
    }

    [Theory]
    [InlineData("ask_user", "question", AgentStepStatus.WaitingForInput, MessageTypes.Question)]
    [InlineData("fail", "reason", AgentStepStatus.Error, MessageTypes.Error)]
    [InlineData("finish", "summary", AgentStepStatus.Finished, MessageTypes.Done)]
    public async Task EndingTool_EndsTheTurn_AndLaterCallsAreIgnored(string tool, string argument, AgentStepStatus status, string type)
    {
        server.ThenCalls(Call(tool, new Dictionary<string, string> { [argument] = "the words" }), Call("think", new { text = "after" }));
        var step = await Session().StartAsync("Task");

        var result = await Agent().ExecuteStepAsync(step!, CancellationToken.None);

        Assert.Equal(status, result.Status);
        Assert.Equal(type, Assert.Single(result.Messages).Type);
    }

    [Fact]
    public async Task TextOnlyAnswer_IsAThought_AndTheTaskGoesOn()
    {
        server.Then(Reply([], text: "I think the answer is 42."));
        var step = await Session().StartAsync("Task");

        var result = await Agent().ExecuteStepAsync(step!, CancellationToken.None);

        Assert.Equal(AgentStepStatus.Running, result.Status);
        var thought = Assert.Single(result.Messages);
        Assert.Equal(MessageTypes.Thought, thought.Type);
        Assert.Equal("I think the answer is 42.", thought.Content.GetString());
    }

    [Fact]
    public async Task NextTurn_SeesTheLastTurnAsToolCallsWithResults_AndInputSentMeanwhileAfterIt()
    {
        server.ThenCalls(Call("think", new { text = "First I plan" }, id: "call_a"), Call("log", new { text = "Opened the shop" }, id: "call_b"))
            .ThenCalls(Call("ask_user", new { question = "Which colour?" }, id: "call_c"))
            .ThenCalls(Call("finish", new { summary = "Ordered a red one" }, id: "call_d"));
        var session = Session();
        var agent = Agent();
        var step1 = await session.StartAsync("Buy a mug");
        var turn1 = await agent.ExecuteStepAsync(step1!, CancellationToken.None);
        await session.SendAsync("Make it cheap");                 // arrives while turn 1 is still running
        var step2 = await session.CompleteAsync(step1!, turn1);
        var turn2 = await agent.ExecuteStepAsync(step2!, CancellationToken.None);
        Assert.Null(await session.CompleteAsync(step2!, turn2));  // waiting for the answer
        Assert.Equal(SessionStatus.WaitingForInput, session.State.Status);
        var step3 = await session.SendAsync("Red");
        var turn3 = await agent.ExecuteStepAsync(step3!, CancellationToken.None);

        Assert.Equal(
        [
            "user: Buy a mug",
            """assistant: think({"text":"First I plan"}) log({"text":"Opened the shop"})""",
            "tool: [call_a] Recorded.",
            "tool: [call_b] Recorded.",
            "user: Make it cheap",
            "system: You are on task 1 of this session, step 2 of at most 10.",
        ], server.Requests[1].Transcript.Skip(1));
        Assert.Equal(
        [
            "user: Make it cheap",
            """assistant: ask_user({"question":"Which colour?"})""",
            "tool: [call_c] The question was shown to the user. Their answer arrives as a user message.",
            "user: Red",
            "system: You are on task 1 of this session, step 3 of at most 10.",
        ], server.Requests[2].Transcript.Skip(5));
        Assert.Equal(AgentStepStatus.Finished, turn3.Status);
    }

    [Fact]
    public async Task NextTask_SeesThePreviousTask_AndSessionEventsAsNotes()
    {
        server.ThenCalls(Call("finish", new { summary = "Done one" }, id: "call_1"))
            .ThenCalls(Call("think", new { text = "On it" }, id: "call_2"))
            .ThenCalls(Call("think", new { text = "Task three" }, id: "call_3"));
        var session = Session();
        var agent = Agent();
        var step = await session.StartAsync("First task");
        Assert.Null(await session.CompleteAsync(step!, await agent.ExecuteStepAsync(step!, CancellationToken.None)));
        step = await session.SendAsync("Second task");
        var second = await agent.ExecuteStepAsync(step!, CancellationToken.None);
        await session.ApplyAsync(new CancelTask());
        await session.CompleteAsync(step!, second);                // late output of the cancelled step: discarded
        step = await session.SendAsync("Third task");
        await agent.ExecuteStepAsync(step!, CancellationToken.None);

        Assert.Equal(
        [
            "user: First task",
            """assistant: finish({"summary":"Done one"})""",
            "tool: [call_1] The task was marked finished.",
            "user: Second task",
            "system: Session event (LOG): Task cancelled by user",
            "user: Third task",
            "system: You are on task 3 of this session, step 1 of at most 10.",
        ], server.Requests[2].Transcript.Skip(1));
    }

    public static TheoryData<string, string, string> MalformedCalls() => new()
    {
        { "think", "{\"text\": \"unterminated", "'think' could not be used: it has arguments that are not a JSON object" },
        { "search_web", "{\"q\":\"x\"}", "'search_web' could not be used: it names no tool offered; expected one of think, log, ask_user, finish, fail" },
        { "finish", "{}", "'finish' could not be used: it lacks the argument \"summary\"; expected a non-empty string" },
        { "ask_user", "{\"question\": 42}", "'ask_user' could not be used: it has \"question\" as a number; expected a non-empty string" },
        { "log", "{\"text\": \"  \"}", "'log' could not be used: it has an empty \"text\"; expected a non-empty string" },
        { "fetch_url", "{\"url\":\"https://example.com/\"}", "'fetch_url' could not be used: it names no tool offered" },
    };

    [Theory]
    [MemberData(nameof(MalformedCalls))]
    public async Task MalformedToolCall_EndsTheTaskWithAClearError_AndWritesNothingElse(string tool, string arguments, string expected)
    {
        server.ThenCalls(Call("think", new { text = "fine" }), new FakeToolCall(tool, arguments));
        var step = await Session().StartAsync("Task");

        var result = await Agent().ExecuteStepAsync(step!, CancellationToken.None);

        Assert.Equal(AgentStepStatus.Error, result.Status);
        var error = Assert.Single(result.Messages);
        Assert.Equal(MessageTypes.Error, error.Type);
        Assert.Contains("The model's call to " + expected, error.Content.GetString());
        Assert.Equal("malformed_tool_call", error.Metadata!.Value.GetProperty("reason").GetString());
        Assert.Equal(103, error.Metadata.Value.GetProperty("input_tokens").GetInt32());
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task CutOffToolCall_SaysTheOutputLimitWasReached()
    {
        server.Then(Reply([new FakeToolCall("think", "{\"text\": \"a long thou")], finishReason: "length"));
        var step = await Session().StartAsync("Task");

        var result = await Agent().ExecuteStepAsync(step!, CancellationToken.None);

        var error = Assert.Single(result.Messages).Content.GetString();
        Assert.Contains("cut off at the output limit of 256 tokens (setting Agents__llm__MaxOutputTokens)", error);
    }

    [Fact]
    public async Task EmptyAnswer_EndsTheTaskWithAnError()
    {
        server.Then(Reply([], text: "  "));
        var step = await Session().StartAsync("Task");

        var result = await Agent().ExecuteStepAsync(step!, CancellationToken.None);

        Assert.Equal(AgentStepStatus.Error, result.Status);
        Assert.Equal("The model answered with neither a tool call nor text.", Assert.Single(result.Messages).Content.GetString());
    }

    [Theory]
    [InlineData(429)]
    [InlineData(408)]
    [InlineData(500)]
    [InlineData(503)]
    public async Task OverloadedOrFailingEndpoint_IsTransient_QuotingItsAnswer(int status)
    {
        server.Then(Status(status, """{"error":{"message":"Rate limit reached for requests","type":"requests"}}"""));
        var step = await Session().StartAsync("Task");

        var failure = await Assert.ThrowsAsync<AgentTransientException>(() => Agent().ExecuteStepAsync(step!, CancellationToken.None));

        Assert.Equal(status, failure.StatusCode);
        Assert.Contains($"The model endpoint of agent 'llm' answered HTTP {status}", failure.Message);
        Assert.Contains("Rate limit reached for requests", failure.Message);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(401)]
    [InlineData(404)]
    [InlineData(422)]
    public async Task RefusingEndpoint_IsPermanent_QuotingItsAnswer(int status)
    {
        server.Then(Status(status, """{"error":{"message":"The model `fake` does not exist","type":"invalid_request_error"}}"""));
        var step = await Session().StartAsync("Task");

        var failure = await Assert.ThrowsAsync<AgentPermanentException>(() => Agent().ExecuteStepAsync(step!, CancellationToken.None));

        Assert.Equal(status, failure.StatusCode);
        Assert.Contains("does not exist", failure.Message);
    }

    [Theory]
    [InlineData("this is not json")]
    [InlineData("""{"id":"x","object":"chat.completion","choices":[]}""")]
    public async Task AnswerThatIsNoChatCompletion_IsPermanent(string body)
    {
        server.Then(Raw(200, "application/json", body));
        var step = await Session().StartAsync("Task");

        var failure = await Assert.ThrowsAsync<AgentPermanentException>(() => Agent().ExecuteStepAsync(step!, CancellationToken.None));

        Assert.Contains("answered something that is not a chat completion", failure.Message);
    }

    [Fact]
    public async Task SlowEndpoint_TimesOut_AsTransient_NamingTheSetting()
    {
        server.Then(Hang());
        var step = await Session().StartAsync("Task");
        var started = DateTime.UtcNow;

        var failure = await Assert.ThrowsAsync<AgentTransientException>(
            () => Agent(o => o with { Timeout = TimeSpan.FromSeconds(1) }).ExecuteStepAsync(step!, CancellationToken.None));

        Assert.Equal("The model endpoint of agent 'llm' did not answer within 1 s (setting Agents__llm__TimeoutSeconds).", failure.Message);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(15), "the timeout bounds the call");
    }

    [Fact]
    public async Task UnreachableEndpoint_IsTransient()
    {
        var step = await Session().StartAsync("Task");
        var closed = new Uri($"http://127.0.0.1:{LoopbackPorts.Free()}/v1/");

        var failure = await Assert.ThrowsAsync<AgentTransientException>(
            () => Agent(o => o with { Endpoint = closed }).ExecuteStepAsync(step!, CancellationToken.None));

        Assert.Contains("could not be reached", failure.Message);
    }

    [Fact]
    public async Task Navigate_WithoutFetchUrl_IsNotSupported_AndScreenshotNever()
    {
        var navigate = await Assert.ThrowsAsync<AgentCapabilityNotSupportedException>(
            () => Agent().NavigateAsync("s", "https://example.com/", CancellationToken.None));
        Assert.Contains("Agents__llm__FetchUrl", navigate.Message);
        await Assert.ThrowsAsync<AgentCapabilityNotSupportedException>(
            () => Agent(o => o with { FetchUrl = true }).ScreenshotAsync("s", CancellationToken.None));
        var navigation = await Agent(o => o with { FetchUrl = true }).NavigateAsync("s", "https://example.com/a", CancellationToken.None);
        Assert.Equal("https://example.com/a", navigation.CurrentUrl);
    }

    [Fact]
    public async Task LongSession_ShowsTheLatestMessagesOnly_SaysSo_AndKeepsTheTaskText()
    {
        server.ThenCalls(Call("think", new { text = "x" }));
        var session = Session();
        var step = await session.StartAsync("The original task");
        for (var i = 1; i <= 30; i++)
        {
            await session.SendAsync($"note {i}");                  // queued input while step 1 is in flight
        }

        // As if step 1 had been started only now, with all 31 messages stored.
        var request = step! with { LastMessageId = session.State.LastMessageId };

        await Agent(o => o with { HistoryMessages = 10 }).ExecuteStepAsync(request, CancellationToken.None);

        var transcript = server.Requests[0].Transcript;
        Assert.Equal("system: The 21 earliest messages of this session are not shown.", transcript[1]);
        Assert.Equal("user: The current task (from earlier in this session): The original task", transcript[2]);
        Assert.Equal([.. Enumerable.Range(21, 10).Select(i => $"user: note {i}")], transcript.Skip(3).Take(10));
    }

    [Fact]
    public async Task LongMessages_AreLeftOutOldestFirst_ToStayWithinHistoryChars()
    {
        server.ThenCalls(Call("think", new { text = "x" }));
        var session = Session();
        await session.StartAsync("Task");
        for (var i = 1; i <= 5; i++)
        {
            await session.SendAsync($"{i}:" + new string('x', 900));
        }

        var request = new StepRequest(session.SessionId, "llm", 1, 1, 10, "Task", null, [], InstanceId: session.InstanceId,
            LastMessageId: session.State.LastMessageId);

        await Agent(o => o with { HistoryChars = 2000 }).ExecuteStepAsync(request, CancellationToken.None);

        var transcript = server.Requests[0].Transcript;
        Assert.Equal("system: The 4 earliest messages of this session are not shown.", transcript[1]);
        Assert.Equal("user: The current task (from earlier in this session): Task", transcript[2]);
        Assert.StartsWith("user: 4:xxx", transcript[3]);
        Assert.StartsWith("user: 5:xxx", transcript[4]);
    }
}
