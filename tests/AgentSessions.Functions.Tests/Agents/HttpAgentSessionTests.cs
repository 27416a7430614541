using System.Text.Json;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Agents;

/// <summary>An http agent behind the real session orchestration, activities and message store.</summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class HttpAgentSessionTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private const string Owner = "alice";

    private FakeAgentServer server = null!;

    public async Task InitializeAsync() => server = await FakeAgentServer.StartAsync();

    public async Task DisposeAsync() => await server.DisposeAsync();

    [Fact]
    public async Task Session_AsksAQuestion_GetsTheAnswer_AndFinishes_WithStateCarriedBetweenSteps()
    {
        server.Respond = (request, context) =>
        {
            using var body = JsonDocument.Parse(request.Body);
            var step = body.RootElement.GetProperty("step").GetInt32();
            var answer = step switch
            {
                1 => """{"status":"waiting_for_input","messages":[{"type":"THOUGHT","content":"planning"},{"type":"QUESTION","content":"Which city?"}],"state":"asked"}""",
                2 => """{"status":"running","messages":[{"type":"LOG","content":{"action":"search"},"metadata":{"ms":5}}],"state":"searched"}""",
                _ => """{"status":"finished","messages":[{"type":"DONE","content":{"summary":"Booked"}}]}""",
            };
            return FakeAgentServer.Json(context, 200, answer);
        };
        await using var host = await SessionTestHost.StartAsync(azurite, agents: new AgentCatalog([server.Agent(name: "remote")]));

        var (created, _) = await host.Gateway.CreateAsync(Owner, new NewSession("remote", 10, "Book a hotel", "https://example.com/"), null, CancellationToken.None);
        await host.WaitForStatusAsync(Owner, created.SessionId, "waiting_for_input");
        await host.Gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Message, "Paris", null, CancellationToken.None);
        await host.WaitForStatusAsync(Owner, created.SessionId, "finished");

        var bodies = server.Requests.Select(r => JsonDocument.Parse(r.Body).RootElement).ToList();
        Assert.Equal([1, 2, 3], bodies.Select(b => b.GetProperty("step").GetInt32()));
        Assert.All(bodies, b => Assert.Equal(created.SessionId, b.GetProperty("session_id").GetString()));
        Assert.All(bodies, b => Assert.Equal("Book a hotel", b.GetProperty("task").GetString()));
        Assert.Equal("https://example.com/", bodies[0].GetProperty("start_url").GetString());
        Assert.Equal(JsonValueKind.Null, bodies[0].GetProperty("state").ValueKind);
        Assert.Equal("asked", bodies[1].GetProperty("state").GetString());
        Assert.Equal(["Paris"], bodies[1].GetProperty("new_user_messages").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("searched", bodies[2].GetProperty("state").GetString());
        Assert.All(server.Requests, r => Assert.Equal("Bearer secret-token", r.Header("Authorization")));

        var messages = await host.MessagesAsync(Owner, created.SessionId);
        Assert.Equal([MessageTypes.User, MessageTypes.Thought, MessageTypes.Question, MessageTypes.User, MessageTypes.Log, MessageTypes.Done],
            messages.Select(m => m.Type));
        Assert.Equal("search", messages[4].Content.GetProperty("action").GetString());
        Assert.Equal(5, messages[4].Metadata.GetProperty("ms").GetInt32());
        Assert.Equal("Booked", messages[5].Content.GetProperty("summary").GetString());
    }

    [Fact]
    public async Task Session_WithAnAgentThatBreaksTheContract_EndsInError_NamingTheProblem()
    {
        server.Respond = (_, context) => FakeAgentServer.Json(context, 200, """{"status":"thinking"}""");
        await using var host = await SessionTestHost.StartAsync(azurite, agents: new AgentCatalog([server.Agent(name: "remote")]));

        var (created, _) = await host.Gateway.CreateAsync(Owner, new NewSession("remote", 10, "Do it", null), null, CancellationToken.None);
        await host.WaitForStatusAsync(Owner, created.SessionId, "error");

        var error = Assert.Single(await host.MessagesAsync(Owner, created.SessionId), m => m.Type == MessageTypes.Error);
        Assert.Contains("\"status\" is 'thinking'", error.Content.GetString());
    }
}
