using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Http;

public abstract class DeleteSessionHttpTests(AzuriteFixture azurite) : IAsyncLifetime
{
    [Collection(AzuriteFixture.CollectionName)]
    public sealed class InMemory(AzuriteFixture azurite) : DeleteSessionHttpTests(azurite)
    {
    }

    [Collection(AzureStorageFixture.CollectionName)]
    public sealed class OnAzureStorage(AzureStorageFixture azurite) : DeleteSessionHttpTests(azurite)
    {
    }

    private const string Deleted = """{"success":true,"deleted":true,"message":"Session deleted successfully"}""";
    private const string NotFound = """{"success":true,"deleted":false,"message":"Session not found"}""";
    private const string AllDeleted = """{"success":true,"deleted":true,"message":"Sessions deleted successfully"}""";

    private SessionTestHost host = null!;
    private SessionsApi alice = null!;

    public async Task InitializeAsync()
    {
        host = await SessionTestHost.StartAsync(azurite);
        alice = SessionsApi.Alice(host);
    }

    public async Task DisposeAsync() => await host.DisposeAsync();

    [Theory]
    [InlineData(null)]
    [InlineData(SessionsApi.LongGoal)]
    [InlineData(SessionsApi.ShortGoal)]
    public async Task Delete_ThenGet404_ThenDeleteAgainNotFound(string? goal)
    {
        var id = await alice.CreateIdAsync(goal);
        if (goal == SessionsApi.ShortGoal)
        {
            await alice.WaitForStatusAsync(id, "finished");
        }

        Assert.Equal(Deleted, (await alice.DeleteAsync(id)).Expect(200).Raw);

        (await alice.GetAsync(id)).ExpectError(404);
        (await alice.StatusAsync(id)).ExpectError(404);
        (await alice.MessagesAsync(id)).ExpectError(404);
        (await alice.PauseAsync(id)).ExpectError(404);
        (await alice.SendTextAsync(id, "hello?")).ExpectError(404);
        Assert.Equal("[]", (await alice.ListAsync()).Expect(200).Raw);

        Assert.Equal(NotFound, (await alice.DeleteAsync(id)).Expect(200).Raw);
    }

    [Fact]
    public async Task Delete_RemovesMessages()
    {
        var id = await alice.CreateIdAsync(SessionsApi.ShortGoal);
        await alice.WaitForStatusAsync(id, "finished");
        Assert.NotEmpty(await host.MessagesAsync("alice", id));

        (await alice.DeleteAsync(id)).Expect(200);

        Assert.Empty(await host.MessagesAsync("alice", id));
        Assert.Null(await host.Client.GetInstanceAsync(SessionIds.InstanceId("alice", id)));
    }

    [Fact]
    public async Task Delete_UnknownId_200NotFound()
    {
        Assert.Equal(NotFound, (await alice.DeleteAsync(Guid.NewGuid().ToString("D"))).Expect(200).Raw);
    }

    [Fact]
    public async Task Delete_PausedSession()
    {
        var id = await alice.CreateIdAsync(SessionsApi.LongGoal);
        (await alice.PauseAsync(id)).Expect(200);
        Assert.Equal(Deleted, (await alice.DeleteAsync(id)).Expect(200).Raw);
        (await alice.GetAsync(id)).ExpectError(404);
    }

    [Fact]
    public async Task DeleteAll_RemovesEverySession_ListEmptyAfter()
    {
        var ids = new[]
        {
            await alice.CreateIdAsync(),
            await alice.CreateIdAsync(SessionsApi.LongGoal),
            await alice.CreateIdAsync(SessionsApi.ShortGoal),
            await alice.CreateIdAsync("[ask] question first"),
        };
        Assert.Equal(ids.Length, (await alice.ListAsync()).Expect(200).Json.GetArrayLength());

        Assert.Equal(AllDeleted, (await alice.DeleteAllAsync()).Expect(200).Raw);

        Assert.Equal("[]", (await alice.ListAsync()).Expect(200).Raw);
        foreach (var id in ids)
        {
            (await alice.GetAsync(id)).ExpectError(404);
            Assert.Equal(NotFound, (await alice.DeleteAsync(id)).Expect(200).Raw);
        }
    }

    [Fact]
    public async Task DeleteAll_WithNoSessions_StillSucceeds()
    {
        Assert.Equal(AllDeleted, (await alice.DeleteAllAsync()).Expect(200).Raw);
        Assert.Equal("[]", (await alice.ListAsync()).Expect(200).Raw);
    }

    [Fact]
    public async Task CreateAfterDeleteAll_Works()
    {
        await alice.CreateIdAsync(SessionsApi.LongGoal);
        (await alice.DeleteAllAsync()).Expect(200);

        var id = await alice.CreateIdAsync(SessionsApi.LongGoal);
        var list = (await alice.ListAsync()).Expect(200);
        Assert.Equal(id, Assert.Single(list.Json.EnumerateArray()).GetProperty("session_id").GetString());
    }
}
