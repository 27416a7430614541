using AgentSessions.Functions.Tests.Infrastructure;
using System.Collections.Immutable;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Agents;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace AgentSessions.Functions.Tests.Agents;

public sealed class HttpAgentTests : IAsyncLifetime
{
    private FakeAgentServer server = null!;

    public async Task InitializeAsync() => server = await FakeAgentServer.StartAsync();

    public async Task DisposeAsync() => await server.DisposeAsync();

    private static StepRequest Request(string? startUrl = "https://example.com/start", string? state = "{\"memo\":1}") => new(
        SessionId: "3f2b8c1e-7d7a-4e8e-9a43-1d2c3b4a5f60",
        AgentName: "remote",
        TaskNumber: 2,
        StepNumber: 5,
        MaxSteps: 40,
        Task: "Find the cheapest flight",
        StartUrl: startUrl,
        NewUserMessages: ["prefer mornings", "no red-eyes"],
        AgentState: state);

    private HttpAgent Agent(TimeSpan? timeout = null, string path = "agent") => new(server.Agent(path: path, timeout: timeout), server.HttpClients);

    private void Answer(int status, string json) => server.Respond = (_, context) => FakeAgentServer.Json(context, status, json);

    [Fact]
    public async Task Step_PostsEveryFieldInSnakeCase_WithTheConfiguredHeader_AndReadsEveryFieldBack()
    {
        Answer(200, """
            {"status":"running","messages":[
              {"type":"THOUGHT","content":"looking at flights"},
              {"type":"LOG","content":{"clicked":"#search","ms":12},"metadata":{"source":"browser"}},
              {"type":"QUESTION","content":"which airport?","metadata":null}
            ],"state":"{\"page\":3}","extra":"ignored"}
            """);

        var result = await Agent().ExecuteStepAsync(Request(), CancellationToken.None);

        var received = Assert.Single(server.Requests);
        Assert.Equal("POST", received.Method);
        Assert.Equal("/agent", received.Path);
        Assert.Equal("Bearer secret-token", received.Header("Authorization"));
        Assert.StartsWith("application/json", received.Header("Content-Type"));
        using var body = JsonDocument.Parse(received.Body);
        var root = body.RootElement;
        Assert.Equal(
            ["session_id", "agent_name", "task", "task_number", "step", "max_steps", "new_user_messages", "start_url", "state"],
            root.EnumerateObject().Select(p => p.Name));
        Assert.Equal("3f2b8c1e-7d7a-4e8e-9a43-1d2c3b4a5f60", root.GetProperty("session_id").GetString());
        Assert.Equal("remote", root.GetProperty("agent_name").GetString());
        Assert.Equal("Find the cheapest flight", root.GetProperty("task").GetString());
        Assert.Equal(2, root.GetProperty("task_number").GetInt32());
        Assert.Equal(5, root.GetProperty("step").GetInt32());
        Assert.Equal(40, root.GetProperty("max_steps").GetInt32());
        Assert.Equal(["prefer mornings", "no red-eyes"], root.GetProperty("new_user_messages").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("https://example.com/start", root.GetProperty("start_url").GetString());
        Assert.Equal("{\"memo\":1}", root.GetProperty("state").GetString());

        Assert.Equal(AgentStepStatus.Running, result.Status);
        Assert.Equal("{\"page\":3}", result.State);
        Assert.Equal([MessageTypes.Thought, MessageTypes.Log, MessageTypes.Question], result.Messages.Select(m => m.Type));
        Assert.Equal("looking at flights", result.Messages[0].Content.GetString());
        Assert.Null(result.Messages[0].Metadata);
        Assert.Equal("#search", result.Messages[1].Content.GetProperty("clicked").GetString());
        Assert.Equal(12, result.Messages[1].Content.GetProperty("ms").GetInt32());
        Assert.Equal("browser", result.Messages[1].Metadata!.Value.GetProperty("source").GetString());
        Assert.Null(result.Messages[2].Metadata);
    }

    [Fact]
    public async Task Step_WithoutStartUrlOrState_SendsNulls_AndAnswerWithoutMessagesOrState_IsEmpty()
    {
        Answer(200, """{"status":"running"}""");

        var result = await Agent().ExecuteStepAsync(Request(startUrl: null, state: null) with { NewUserMessages = [] }, CancellationToken.None);

        using var body = JsonDocument.Parse(Assert.Single(server.Requests).Body);
        Assert.Equal(JsonValueKind.Null, body.RootElement.GetProperty("start_url").ValueKind);
        Assert.Equal(JsonValueKind.Null, body.RootElement.GetProperty("state").ValueKind);
        Assert.Equal(0, body.RootElement.GetProperty("new_user_messages").GetArrayLength());
        Assert.Empty(result.Messages);
        Assert.Null(result.State);
    }

    [Fact]
    public async Task Step_WithoutConfiguredHeader_SendsNone()
    {
        Answer(200, """{"status":"running","messages":[]}""");
        var agent = new HttpAgent(server.Agent(headerName: null, headerValue: null), server.HttpClients);

        await agent.ExecuteStepAsync(Request(), CancellationToken.None);

        Assert.Null(Assert.Single(server.Requests).Header("Authorization"));
    }

    [Theory]
    [InlineData("running", AgentStepStatus.Running)]
    [InlineData("waiting_for_input", AgentStepStatus.WaitingForInput)]
    [InlineData("finished", AgentStepStatus.Finished)]
    [InlineData("error", AgentStepStatus.Error)]
    public async Task Step_EachStatus_IsMapped(string wire, AgentStepStatus expected)
    {
        Answer(200, $$$"""{"status":"{{{wire}}}","messages":[{"type":"DONE","content":{"result":"ok"}},{"type":"ERROR","content":"bad"}]}""");

        var result = await Agent().ExecuteStepAsync(Request(), CancellationToken.None);

        Assert.Equal(expected, result.Status);
        Assert.Equal([MessageTypes.Done, MessageTypes.Error], result.Messages.Select(m => m.Type));
    }

    public static TheoryData<string, string> InvalidAnswers() => new()
    {
        { "<html>oops</html>", "the body is not JSON" },
        { "", "the body is empty" },
        { "[1,2]", "the body is an array; expected a JSON object" },
        { """{"messages":[]}""", "\"status\" is missing; expected one of running, waiting_for_input, finished, error" },
        { """{"status":"done"}""", "\"status\" is 'done'; expected one of running, waiting_for_input, finished, error" },
        { """{"status":"RUNNING"}""", "\"status\" is 'RUNNING'" },
        { """{"status":3}""", "\"status\" is a number" },
        { """{"status":"running","messages":{"type":"THOUGHT"}}""", "\"messages\" is an object; expected an array" },
        { """{"status":"running","messages":["hi"]}""", "messages[0] is 'hi'; expected an object" },
        { """{"status":"running","messages":[{"type":"THOUGHT","content":"a"},{"type":"NOTE","content":"b"}]}""", "messages[1].type is 'NOTE'; expected one of THOUGHT, QUESTION, DONE, ERROR, LOG" },
        { """{"status":"running","messages":[{"type":"thought","content":"a"}]}""", "messages[0].type is 'thought'" },
        { """{"status":"running","messages":[{"type":"USER","content":"a"}]}""", "messages[0].type is 'USER'" },
        { """{"status":"running","messages":[{"content":"a"}]}""", "messages[0].type is missing" },
        { """{"status":"running","messages":[{"type":"THOUGHT"}]}""", "messages[0].content is missing; expected a string or a JSON object" },
        { """{"status":"running","messages":[{"type":"THOUGHT","content":42}]}""", "messages[0].content is a number; expected a string or a JSON object" },
        { """{"status":"running","messages":[{"type":"THOUGHT","content":["a"]}]}""", "messages[0].content is an array; expected a string or a JSON object" },
        { """{"status":"running","messages":[{"type":"THOUGHT","content":null}]}""", "messages[0].content is null; expected a string or a JSON object" },
        { """{"status":"running","messages":[{"type":"THOUGHT","content":"a","metadata":"m"}]}""", "messages[0].metadata is 'm'; expected a JSON object or null" },
        { """{"status":"running","state":{"a":1}}""", "\"state\" is an object; expected a string or null" },
        { $$"""{"status":"running","state":"{{new string('x', RunAgentStepActivity.MaxAgentStateChars + 1)}}"}""", $"\"state\" has {RunAgentStepActivity.MaxAgentStateChars + 1} characters; the limit is {RunAgentStepActivity.MaxAgentStateChars}" },
    };

    [Theory]
    [MemberData(nameof(InvalidAnswers))]
    public async Task Step_InvalidAnswer_FailsPermanently_NamingWhatIsWrong(string answer, string expected)
    {
        Answer(200, answer);

        var error = await Assert.ThrowsAsync<AgentPermanentException>(() => Agent().ExecuteStepAsync(Request(), CancellationToken.None));

        Assert.StartsWith("Agent 'remote' returned an invalid step response: ", error.Message);
        Assert.Contains(expected, error.Message);
        Assert.Equal("remote", error.AgentName);
        Assert.Equal(200, error.StatusCode);
    }

    [Fact]
    public async Task Step_StateAtTheLimit_IsAccepted()
    {
        var state = new string('x', RunAgentStepActivity.MaxAgentStateChars);
        Answer(200, $$"""{"status":"running","state":"{{state}}"}""");

        var result = await Agent().ExecuteStepAsync(Request(), CancellationToken.None);

        Assert.Equal(state, result.State);
    }

    [Fact]
    public async Task Step_AnswerLargerThanTheLimit_FailsPermanently()
    {
        var big = new string('x', HttpAgent.MaxStepResponseBytes);
        Answer(200, $$"""{"status":"running","messages":[{"type":"LOG","content":"{{big}}"}]}""");

        var error = await Assert.ThrowsAsync<AgentPermanentException>(() => Agent().ExecuteStepAsync(Request(), CancellationToken.None));

        Assert.Contains("larger than 1048576 bytes", error.Message);
    }

    [Fact]
    public async Task Step_NestedDeeperThanTheLimit_FailsPermanently()
    {
        var deep = string.Concat(Enumerable.Repeat("{\"a\":", HttpAgentDepth)) + "1" + new string('}', HttpAgentDepth);
        Answer(200, $$"""{"status":"running","messages":[{"type":"LOG","content":{{deep}}}]}""");

        var error = await Assert.ThrowsAsync<AgentPermanentException>(() => Agent().ExecuteStepAsync(Request(), CancellationToken.None));

        Assert.Contains("the body is not JSON", error.Message);
        Assert.Contains("depth", error.Message);
    }

    private const int HttpAgentDepth = 40;

    [Theory]
    [InlineData(500)]
    [InlineData(502)]
    [InlineData(503)]
    [InlineData(504)]
    [InlineData(429)]
    [InlineData(408)]
    public async Task Step_ServerSideOrThrottlingStatus_IsTransient_WithStatusAndBodyInTheMessage(int status)
    {
        server.Respond = (_, context) => FakeAgentServer.Text(context, status, "  model\n  overloaded  ");

        var error = await Assert.ThrowsAsync<AgentTransientException>(() => Agent().ExecuteStepAsync(Request(), CancellationToken.None));

        Assert.Equal(status, error.StatusCode);
        Assert.StartsWith($"Agent 'remote' answered the step call with HTTP {status}", error.Message);
        Assert.EndsWith(": model overloaded", error.Message);
    }

    [Theory]
    [InlineData(400)]
    [InlineData(401)]
    [InlineData(403)]
    [InlineData(404)]
    [InlineData(422)]
    public async Task Step_ClientErrorStatus_IsPermanent(int status)
    {
        server.Respond = (_, context) => FakeAgentServer.Json(context, status, """{"error":"bad request"}""");

        var error = await Assert.ThrowsAsync<AgentPermanentException>(() => Agent().ExecuteStepAsync(Request(), CancellationToken.None));

        Assert.Equal(status, error.StatusCode);
        Assert.Contains($"HTTP {status}", error.Message);
        Assert.Contains("""{"error":"bad request"}""", error.Message);
    }

    [Fact]
    public async Task Step_Redirect_IsNotFollowed_AndIsPermanent()
    {
        server.Respond = (_, context) =>
        {
            context.Response.StatusCode = 307;
            context.Response.Headers.Location = new Uri(server.BaseUrl, "elsewhere?key=secret").ToString();
            return Task.CompletedTask;
        };

        var error = await Assert.ThrowsAsync<AgentPermanentException>(() => Agent().ExecuteStepAsync(Request(), CancellationToken.None));

        Assert.Single(server.Requests);
        Assert.Contains("redirect (HTTP 307", error.Message);
        Assert.Contains("/elsewhere", error.Message);
        Assert.DoesNotContain("secret", error.Message);
    }

    [Fact]
    public async Task Step_AgentSlowerThanItsTimeout_FailsTransient_SoonAfterTheTimeout()
    {
        server.Respond = async (_, context) => await Task.Delay(Timeout.InfiniteTimeSpan, context.RequestAborted);
        var agent = Agent(timeout: TimeSpan.FromSeconds(1));
        var clock = Stopwatch.StartNew();

        var error = await Assert.ThrowsAsync<AgentTransientException>(() => agent.ExecuteStepAsync(Request(), CancellationToken.None));

        clock.Stop();
        Assert.Equal("Agent 'remote' did not answer the step call within 1 s.", error.Message);
        Assert.Null(error.StatusCode);
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(900), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void Timeout_DefaultsTo30Seconds()
    {
        Assert.Equal(TimeSpan.FromSeconds(30), Agent().Timeout);
        Assert.Equal(TimeSpan.FromSeconds(30), Agent(timeout: TimeSpan.Zero).Timeout);
        Assert.Equal(TimeSpan.FromSeconds(7), Agent(timeout: TimeSpan.FromSeconds(7)).Timeout);
    }

    [Fact]
    public async Task Step_CallerCancellation_IsNotReportedAsAnAgentFailure()
    {
        var arrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        server.Respond = async (_, context) =>
        {
            arrived.TrySetResult();
            await Task.Delay(Timeout.InfiniteTimeSpan, context.RequestAborted);
        };
        using var cancel = new CancellationTokenSource();
        var step = Agent().ExecuteStepAsync(Request(), cancel.Token);
        await arrived.Task.WaitAsync(TimeSpan.FromSeconds(10));

        cancel.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => step);
    }

    [Fact]
    public async Task Step_NobodyListening_IsTransient()
    {
        var port = LoopbackPorts.Free();
        var agent = new HttpAgent(new AgentDefinition("gone", AgentCatalog.HttpType, TimeSpan.Zero, new Uri($"http://127.0.0.1:{port}/agent")),
            server.HttpClients);

        var error = await Assert.ThrowsAsync<AgentTransientException>(() => agent.ExecuteStepAsync(Request(), CancellationToken.None));

        Assert.StartsWith("Agent 'gone' could not be reached for the step call: ", error.Message);
    }

    [Fact]
    public async Task Navigate_PostsSessionAndUrl_BelowTheAgentUrl_KeepingItsQuery()
    {
        server.Respond = (_, context) => FakeAgentServer.Json(context, 200, """{"current_url":"https://example.com/landed","title":"x"}""");
        var agent = Agent(path: "v2/agent/?code=abc");

        var navigation = await agent.NavigateAsync("sess-1", "https://example.com/go", CancellationToken.None);

        Assert.Equal(new AgentNavigation("https://example.com/landed"), navigation);
        var received = Assert.Single(server.Requests);
        Assert.Equal("POST", received.Method);
        Assert.Equal("/v2/agent/navigate", received.Path);
        Assert.Equal("?code=abc", received.Query);
        Assert.Equal("Bearer secret-token", received.Header("Authorization"));
        using var body = JsonDocument.Parse(received.Body);
        Assert.Equal(["session_id", "url"], body.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal("sess-1", body.RootElement.GetProperty("session_id").GetString());
        Assert.Equal("https://example.com/go", body.RootElement.GetProperty("url").GetString());
    }

    [Theory]
    [InlineData("""{"url":"https://example.com"}""", "\"current_url\" is missing")]
    [InlineData("""{"current_url":5}""", "\"current_url\" is a number")]
    [InlineData("""{"current_url":""}""", "\"current_url\" is ''")]
    [InlineData("nope", "the body is not JSON")]
    public async Task Navigate_InvalidAnswer_FailsPermanently(string answer, string expected)
    {
        Answer(200, answer);

        var error = await Assert.ThrowsAsync<AgentPermanentException>(() => Agent().NavigateAsync("s", "https://example.com", CancellationToken.None));

        Assert.StartsWith("Agent 'remote' returned an invalid navigate response: ", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public async Task Navigate_ServerError_IsTransient()
    {
        server.Respond = (_, context) => FakeAgentServer.Text(context, 503, "browser starting");

        var error = await Assert.ThrowsAsync<AgentTransientException>(() => Agent().NavigateAsync("s", "https://example.com", CancellationToken.None));

        Assert.Equal("Agent 'remote' answered the navigate call with HTTP 503 (Service Unavailable): browser starting", error.Message);
    }

    [Fact]
    public async Task Screenshot_GetsWithTheSessionId_AndPassesTheObjectThrough()
    {
        server.Respond = (_, context) => FakeAgentServer.Json(context, 200,
            """{"screenshot":"data:image/png;base64,iVBORw0KGgo=","url":"https://example.com/","title":"Example","width":1280}""");

        var screenshot = await Agent(path: "agent?code=abc").ScreenshotAsync("sess 1/ä", CancellationToken.None);

        var received = Assert.Single(server.Requests);
        Assert.Equal("GET", received.Method);
        Assert.Equal("/agent/screenshot", received.Path);
        Assert.Equal("?code=abc&session_id=sess%201%2F%C3%A4", received.Query);
        Assert.Equal("Bearer secret-token", received.Header("Authorization"));
        Assert.Equal("data:image/png;base64,iVBORw0KGgo=", screenshot.GetProperty("screenshot").GetString());
        Assert.Equal(["screenshot", "url", "title", "width"], screenshot.EnumerateObject().Select(p => p.Name));
        Assert.Equal(1280, screenshot.GetProperty("width").GetInt32());
    }

    [Theory]
    [InlineData("""{"image":"abc"}""", "\"screenshot\" is missing")]
    [InlineData("""{"screenshot":null}""", "\"screenshot\" is null")]
    [InlineData("""["abc"]""", "the body is an array")]
    public async Task Screenshot_InvalidAnswer_FailsPermanently(string answer, string expected)
    {
        Answer(200, answer);

        var error = await Assert.ThrowsAsync<AgentPermanentException>(() => Agent().ScreenshotAsync("s", CancellationToken.None));

        Assert.StartsWith("Agent 'remote' returned an invalid screenshot response: ", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public async Task Screenshot_AgentWithoutOne_404_IsPermanent()
    {
        var error = await Assert.ThrowsAsync<AgentPermanentException>(() => Agent().ScreenshotAsync("s", CancellationToken.None));

        Assert.Equal(404, error.StatusCode);
    }

    [Fact]
    public void Resolver_GivesAnHttpAgentForAnHttpDefinition_AndAScriptedOneOtherwise()
    {
        var catalog = new AgentCatalog([server.Agent(name: "remote"), new AgentDefinition("local", AgentCatalog.ScriptedType, TimeSpan.Zero)]);
        var resolver = new AgentResolver(catalog, TimeProvider.System, server.HttpClients);

        Assert.IsType<HttpAgent>(resolver.Resolve("remote"));
        Assert.IsType<ScriptedAgent>(resolver.Resolve("local"));
    }

    [Fact]
    public async Task ScriptedAgent_NavigatesAsAsked_ButHasNoScreenshots()
    {
        var agent = new ScriptedAgent(TimeSpan.Zero, TimeProvider.System, "agi-0");

        Assert.Equal(new AgentNavigation("https://example.com/"), await agent.NavigateAsync("s", "https://example.com/", CancellationToken.None));
        var error = await Assert.ThrowsAsync<AgentCapabilityNotSupportedException>(() => agent.ScreenshotAsync("s", CancellationToken.None));
        Assert.Equal("agi-0", error.AgentName);
        Assert.Equal("screenshot", error.Capability);
        Assert.Contains("cannot take screenshots", error.Message);
    }

    [Fact]
    public async Task Activity_RunsAnHttpAgentStep()
    {
        Answer(200, """{"status":"finished","messages":[{"type":"DONE","content":{"summary":"done"}}],"state":"s"}""");
        var resolver = new AgentResolver(new AgentCatalog([server.Agent()]), TimeProvider.System, server.HttpClients);

        var result = await new RunAgentStepActivity(resolver).RunAsync(Request(), CancellationToken.None);

        Assert.Equal(AgentStepStatus.Finished, result.Status);
        Assert.Equal("done", Assert.Single(result.Messages).Content.GetProperty("summary").GetString());
    }
}

public sealed class HttpAgentRegistrationTests
{
    [Fact]
    public async Task AppRegistration_ResolvesHttpAgentsWithTheFactoryClient()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["AzureWebJobsStorage"] = "UseDevelopmentStorage=true",
            [Auth.ApiKeyAuthenticator.SettingName] = "alice=alice-key",
            ["Agents:remote:Type"] = "http",
            ["Agents:remote:Url"] = "http://127.0.0.1:9/agent",
            ["Agents:remote:TimeoutSeconds"] = "5",
        }).Build();
        var services = new ServiceCollection();
        services.AddAgentSessions(configuration);
        await using var provider = services.BuildServiceProvider();

        var resolver = provider.GetRequiredService<AgentResolver>();

        var agent = Assert.IsType<HttpAgent>(resolver.Resolve("remote"));
        Assert.Equal(TimeSpan.FromSeconds(5), agent.Timeout);
        var factory = provider.GetRequiredService<IHttpClientFactory>();
        Assert.Equal(System.Threading.Timeout.InfiniteTimeSpan, factory.CreateClient(HttpAgent.HttpClientName).Timeout);
    }
}
