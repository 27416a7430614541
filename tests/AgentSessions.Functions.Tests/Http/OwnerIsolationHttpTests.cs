using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Http;

[Collection(AzuriteFixture.CollectionName)]
public sealed class OwnerIsolationHttpTests(AzuriteFixture azurite) : HostedHttpTests(azurite)
{

    public static TheoryData<string> SessionEndpoints() =>
        ["get", "status", "pause", "resume", "cancel", "message", "messages"];

    [Theory]
    [MemberData(nameof(SessionEndpoints))]
    public async Task AnotherOwnersSession_AnswersExactlyLikeAMissingOne(string endpoint)
    {
        var id = await Alice.CreateIdAsync(SessionsApi.LongGoal);

        var foreign = await Bob.InvokeAsync(endpoint, id);
        var missing = await Bob.InvokeAsync(endpoint, Guid.NewGuid().ToString("D"));

        foreign.ExpectError(404);
        missing.ExpectError(404);
        Assert.Equal(missing.Raw, foreign.Raw);

        // Alice's session was not touched.
        Assert.Equal("running", await Alice.StatusOfAsync(id));
        var messages = (await Alice.MessagesAsync(id)).Expect(200);
        Assert.DoesNotContain(messages.Json.GetProperty("messages").EnumerateArray(),
            m => m.GetProperty("type").GetString() == "USER" && m.GetProperty("content").ToString() == "hello");
    }

    [Fact]
    public async Task Delete_AnotherOwnersSession_200NotDeleted_AndItStillExists()
    {
        var id = await Alice.CreateIdAsync(SessionsApi.LongGoal);

        var answer = (await Bob.DeleteAsync(id)).Expect(200);
        Assert.Equal("""{"success":true,"deleted":false,"message":"Session not found"}""", answer.Raw);

        var get = (await Alice.GetAsync(id)).Expect(200);
        Assert.Equal("running", get.String("status"));
        Assert.Equal("running", await Alice.StatusOfAsync(id));
    }

    [Fact]
    public async Task List_ShowsOnlyTheCallersSessions()
    {
        var aliceIds = new[] { await Alice.CreateIdAsync(), await Alice.CreateIdAsync(SessionsApi.LongGoal) };
        var bobId = await Bob.CreateIdAsync();

        var bobList = (await Bob.ListAsync()).Expect(200);
        Assert.Equal([bobId], bobList.Json.EnumerateArray().Select(s => s.GetProperty("session_id").GetString()!).ToArray());

        var aliceList = (await Alice.ListAsync()).Expect(200);
        Assert.Equal(aliceIds.Order(StringComparer.Ordinal).ToArray(),
            aliceList.Json.EnumerateArray().Select(s => s.GetProperty("session_id").GetString()!).Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public async Task DeleteAll_LeavesOtherOwnersSessions()
    {
        var aliceReady = await Alice.CreateIdAsync();
        var aliceRunning = await Alice.CreateIdAsync(SessionsApi.LongGoal);
        await Bob.CreateIdAsync();
        await Bob.CreateIdAsync(SessionsApi.LongGoal);

        var answer = (await Bob.DeleteAllAsync()).Expect(200);
        Assert.Equal("""{"success":true,"deleted":true,"message":"Sessions deleted successfully"}""", answer.Raw);

        Assert.Equal(0, (await Bob.ListAsync()).Expect(200).Json.GetArrayLength());
        var aliceList = (await Alice.ListAsync()).Expect(200);
        Assert.Equal(2, aliceList.Json.GetArrayLength());
        Assert.Equal("ready", await Alice.StatusOfAsync(aliceReady));
        Assert.Equal("running", await Alice.StatusOfAsync(aliceRunning));
    }

    [Fact]
    public async Task SameSessionIdCannotBeReachedThroughAnotherOwnersPrefix()
    {
        // Bob's own session and Alice's own session: each owner sees only theirs, by id, through every read.
        var aliceId = await Alice.CreateIdAsync(SessionsApi.ShortGoal);
        var bobId = await Bob.CreateIdAsync();

        (await Alice.GetAsync(bobId)).ExpectError(404);
        (await Bob.GetAsync(aliceId)).ExpectError(404);
        (await Bob.MessagesAsync(aliceId, ("after_id", "0"))).ExpectError(404);
        (await Alice.MessagesAsync(bobId)).ExpectError(404);
    }
}
