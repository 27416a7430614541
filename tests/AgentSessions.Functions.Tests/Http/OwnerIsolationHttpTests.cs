using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Http;

[Collection(AzuriteFixture.CollectionName)]
public sealed class OwnerIsolationHttpTests(AzuriteFixture azurite) : IAsyncLifetime
{
    private SessionTestHost host = null!;
    private SessionsApi alice = null!;
    private SessionsApi bob = null!;

    public async Task InitializeAsync()
    {
        host = await HttpTestHost.StartAsync(azurite);
        alice = SessionsApi.Alice(host);
        bob = SessionsApi.Bob(host);
    }

    public async Task DisposeAsync() => await host.DisposeAsync();

    public static TheoryData<string> SessionEndpoints() =>
        ["get", "status", "pause", "resume", "cancel", "message", "messages"];

    [Theory]
    [MemberData(nameof(SessionEndpoints))]
    public async Task AnotherOwnersSession_AnswersExactlyLikeAMissingOne(string endpoint)
    {
        var id = await alice.CreateIdAsync(SessionsApi.LongGoal);

        var foreign = await bob.InvokeAsync(endpoint, id);
        var missing = await bob.InvokeAsync(endpoint, Guid.NewGuid().ToString("D"));

        foreign.ExpectError(404);
        missing.ExpectError(404);
        Assert.Equal(missing.Raw, foreign.Raw);

        // Alice's session was not touched.
        Assert.Equal("running", await alice.StatusOfAsync(id));
        var messages = (await alice.MessagesAsync(id)).Expect(200);
        Assert.DoesNotContain(messages.Json.GetProperty("messages").EnumerateArray(),
            m => m.GetProperty("type").GetString() == "USER" && m.GetProperty("content").ToString() == "hello");
    }

    [Fact]
    public async Task Delete_AnotherOwnersSession_200NotDeleted_AndItStillExists()
    {
        var id = await alice.CreateIdAsync(SessionsApi.LongGoal);

        var answer = (await bob.DeleteAsync(id)).Expect(200);
        Assert.Equal("""{"success":true,"deleted":false,"message":"Session not found"}""", answer.Raw);

        var get = (await alice.GetAsync(id)).Expect(200);
        Assert.Equal("running", get.String("status"));
        Assert.Equal("running", await alice.StatusOfAsync(id));
    }

    [Fact]
    public async Task List_ShowsOnlyTheCallersSessions()
    {
        var aliceIds = new[] { await alice.CreateIdAsync(), await alice.CreateIdAsync(SessionsApi.LongGoal) };
        var bobId = await bob.CreateIdAsync();

        var bobList = (await bob.ListAsync()).Expect(200);
        Assert.Equal([bobId], bobList.Json.EnumerateArray().Select(s => s.GetProperty("session_id").GetString()!).ToArray());

        var aliceList = (await alice.ListAsync()).Expect(200);
        Assert.Equal(aliceIds.Order(StringComparer.Ordinal).ToArray(),
            aliceList.Json.EnumerateArray().Select(s => s.GetProperty("session_id").GetString()!).Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public async Task DeleteAll_LeavesOtherOwnersSessions()
    {
        var aliceReady = await alice.CreateIdAsync();
        var aliceRunning = await alice.CreateIdAsync(SessionsApi.LongGoal);
        await bob.CreateIdAsync();
        await bob.CreateIdAsync(SessionsApi.LongGoal);

        var answer = (await bob.DeleteAllAsync()).Expect(200);
        Assert.Equal("""{"success":true,"deleted":true,"message":"Sessions deleted successfully"}""", answer.Raw);

        Assert.Equal(0, (await bob.ListAsync()).Expect(200).Json.GetArrayLength());
        var aliceList = (await alice.ListAsync()).Expect(200);
        Assert.Equal(2, aliceList.Json.GetArrayLength());
        Assert.Equal("ready", await alice.StatusOfAsync(aliceReady));
        Assert.Equal("running", await alice.StatusOfAsync(aliceRunning));
    }

    [Fact]
    public async Task SameSessionIdCannotBeReachedThroughAnotherOwnersPrefix()
    {
        // Bob's own session and Alice's own session: each owner sees only theirs, by id, through every read.
        var aliceId = await alice.CreateIdAsync(SessionsApi.ShortGoal);
        var bobId = await bob.CreateIdAsync();

        (await alice.GetAsync(bobId)).ExpectError(404);
        (await bob.GetAsync(aliceId)).ExpectError(404);
        (await bob.MessagesAsync(aliceId, ("after_id", "0"))).ExpectError(404);
        (await alice.MessagesAsync(bobId)).ExpectError(404);
    }
}
