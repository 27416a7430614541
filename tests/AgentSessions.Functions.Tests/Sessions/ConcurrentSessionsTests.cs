using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Sessions;

/// <summary>Many sessions of one owner at once on one engine and one message table.</summary>
/// <remarks>
/// The in-process engine runs at most <see cref="Environment.ProcessorCount"/> orchestration episodes and as many
/// activities at once, and when all its slots are busy it looks again only every 500 ms. A session task of three
/// steps takes about eight episodes and seven activities, so on two cores fifty sessions need well over a minute
/// however fast the service is: the deadline below is sized for that, not for the service.
/// </remarks>
public abstract class ConcurrentSessionsTests(AzuriteFixture azurite)
{
    [Collection(AzuriteFixture.CollectionName)]
    public sealed class InMemory(AzuriteFixture azurite) : ConcurrentSessionsTests(azurite)
    {
    }

    [Collection(AzureStorageFixture.CollectionName)]
    public sealed class OnAzureStorage(AzureStorageFixture azurite) : ConcurrentSessionsTests(azurite)
    {
    }

    private const string Owner = "alice";
    private const int Sessions = 50;
    private static readonly TimeSpan AllFinishDeadline = TimeSpan.FromSeconds(180);

    [Fact]
    public async Task FiftySessionsCreatedInParallel_AllFinish_EachWithOnlyItsOwnGapFreeTranscript()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        var gateway = host.Gateway;
        static string Goal(int i) => $"[steps=3] [delay=50] job {i}";

        var created = await Task.WhenAll(Enumerable.Range(0, Sessions).Select(i => Task.Run(async () =>
            (Index: i, (await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, Goal(i), null), null, default)).View))));
        Assert.Equal(Sessions, created.Select(c => c.View.SessionId).Distinct().Count());

        // One poller for all sessions, so waiting does not itself flood the engine.
        var views = await Eventually.ValueAsync(
            () => Task.WhenAll(created.Select(c => host.ViewAsync(Owner, c.View.SessionId))),
            vs => vs.All(v => v.Status is "finished" or "error"),
            AllFinishDeadline, $"all {Sessions} sessions to end");
        Assert.All(views, v => Assert.Equal("finished", v.Status));

        var transcripts = await Task.WhenAll(created.Select(async c =>
            (c.Index, c.View.SessionId, Messages: await host.MessagesAsync(Owner, c.View.SessionId))));
        foreach (var (index, sessionId, messages) in transcripts)
        {
            Assert.Equal(
                [MessageTypes.User, MessageTypes.Thought, MessageTypes.Thought, MessageTypes.Thought, MessageTypes.Done],
                messages.Select(m => m.Type));
            Assert.Equal([1L, 2L, 3L, 4L, 5L], messages.Select(m => m.Id));
            Assert.Equal(5, views.Single(v => v.SessionId == sessionId).LastMessageId);

            // Each message names this session's own job; the closing quote keeps "job 1" from matching "job 10".
            Assert.Equal(Goal(index), messages[0].Content.GetString());
            var quoted = $"\"{Goal(index)}\"";
            Assert.All(messages.Where(m => m.Type == MessageTypes.Thought),
                t => Assert.EndsWith(quoted, t.Content.GetString(), StringComparison.Ordinal));
            Assert.Equal([1, 2, 3], messages.Where(m => m.Type == MessageTypes.Thought).Select(TaskFlowTests.StepOf));
            Assert.All(messages.Skip(1), m => Assert.Equal(1, TaskFlowTests.TaskOf(m)));
            var done = messages[^1].Content;
            Assert.Equal(3, done.GetProperty("steps").GetInt32());
            Assert.Contains(quoted, done.GetProperty("summary").GetString(), StringComparison.Ordinal);
        }

        var listed = await gateway.ListAsync(Owner, default);
        Assert.Equal(created.Select(c => c.View.SessionId).Order(StringComparer.Ordinal),
            listed.Select(v => v.SessionId).Order(StringComparer.Ordinal));
        Assert.Empty(await gateway.ListAsync("bob", default));
    }

    /// <summary>
    /// A create with a goal whose acknowledgement times out (the engine is busy) must still not show the session
    /// as <c>ready</c>: the goal has been accepted and the task starts at once.
    /// </summary>
    [Fact]
    public async Task CreateWithGoal_WhileTheEngineIsBusy_NeverShowsReady()
    {
        var options = new SessionsOptions { AckTimeout = TimeSpan.FromSeconds(1) };
        await using var host = await SessionTestHost.StartAsync(azurite, options);
        var gateway = host.Gateway;

        // Occupy every activity slot of the in-process engine with a long step, so the next activity queues behind them.
        var blockers = await Task.WhenAll(Enumerable.Range(0, Environment.ProcessorCount).Select(async i =>
            (await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, $"[steps=1] [delay=5000] blocker {i}", null), null, default)).View.SessionId));
        foreach (var blocker in blockers)
        {
            await Eventually.ValueAsync(() => host.ViewAsync(Owner, blocker), v => v.LastMessageId >= 1 && v.Status == "running",
                null, $"blocker {blocker} to start its step");
        }

        var (created, _) = await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, "[steps=1] behind the blockers", null), null, default);

        Assert.NotEqual("ready", created.Status);
        Assert.NotEqual("ready", (await gateway.GetAsync(Owner, created.SessionId, default)).Status);
        await host.WaitForStatusAsync(Owner, created.SessionId, "finished");
    }
}
