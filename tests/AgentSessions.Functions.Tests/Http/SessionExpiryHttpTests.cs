using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Http;

/// <summary>The "expired" row of the state table, on a host whose idle timeout is short.</summary>
public abstract class SessionExpiryHttpTests(AzuriteFixture azurite) : IAsyncLifetime
{
    [Collection(AzuriteFixture.CollectionName)]
    public sealed class InMemory(AzuriteFixture azurite) : SessionExpiryHttpTests(azurite)
    {
    }

    [Collection(AzureStorageFixture.CollectionName)]
    public sealed class OnAzureStorage(AzureStorageFixture azurite) : SessionExpiryHttpTests(azurite)
    {
    }

    private SessionTestHost host = null!;
    private SessionsApi alice = null!;

    public async Task InitializeAsync()
    {
        host = await SessionTestHost.StartAsync(azurite,
            new SessionsOptions { AckTimeout = TimeSpan.FromSeconds(20), IdleTimeout = TimeSpan.FromSeconds(1) });
        alice = SessionsApi.Alice(host);
    }

    public async Task DisposeAsync() => await host.DisposeAsync();

    [Fact]
    public async Task IdleSession_ExpiresToError_CommandsAre409_AMessageStartsANewTask()
    {
        var id = await alice.CreateIdAsync();

        await alice.WaitForStatusAsync(id, "error", TimeSpan.FromSeconds(30));

        var transcript = (await alice.MessagesAsync(id)).Expect(200);
        Assert.Equal("error", transcript.String("status"));
        var error = Assert.Single(transcript.Json.GetProperty("messages").EnumerateArray());
        Assert.Equal("ERROR", error.GetProperty("type").GetString());
        Assert.Equal("expired", error.GetProperty("metadata").GetProperty("reason").GetString());

        (await alice.PauseAsync(id)).ExpectError(409, "not_running");
        (await alice.ResumeAsync(id)).ExpectError(409, "not_paused");
        (await alice.CancelAsync(id)).ExpectError(409, "not_running");
        Assert.Equal("error", (await alice.GetAsync(id)).Expect(200).String("status"));

        (await alice.SendTextAsync(id, SessionsApi.LongGoal)).Expect(200);
        Assert.Equal("running", await alice.StatusOfAsync(id));
    }

    [Fact]
    public async Task RunningSession_DoesNotExpireWhileItsAgentWorks()
    {
        // Steps of 200 ms complete well within the 1 s idle bound; each completion is activity.
        var id = await alice.CreateIdAsync("[steps=15] [delay=200] keep busy");

        var finished = await alice.WaitForStatusAsync(id, "finished", TimeSpan.FromSeconds(30));

        Assert.Equal("finished", finished);
        var messages = (await alice.MessagesAsync(id)).Expect(200).Json.GetProperty("messages").EnumerateArray().ToList();
        Assert.DoesNotContain(messages, m => m.GetProperty("type").GetString() == "ERROR");
        Assert.Equal("DONE", messages[^1].GetProperty("type").GetString());
    }
}
