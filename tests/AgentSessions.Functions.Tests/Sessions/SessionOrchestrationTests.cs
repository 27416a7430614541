using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Sessions;

public abstract class SessionOrchestrationTests(AzuriteFixture azurite)
{
    [Collection(AzuriteFixture.CollectionName)]
    public sealed class InMemory(AzuriteFixture azurite) : SessionOrchestrationTests(azurite)
    {
    }

    [Collection(AzureStorageFixture.CollectionName)]
    public sealed class OnAzureStorage(AzureStorageFixture azurite) : SessionOrchestrationTests(azurite)
    {
    }

    private const string Owner = "alice";

    [Fact]
    public async Task CreatePauseResumeCancel_EachAnswerShowsTheAppliedState()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        var gateway = host.Gateway;

        var created = (await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, "[steps=50] [delay=200] research", null), null, default)).View;
        Assert.Equal("running", created.Status);

        var pause = await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Pause, null, null, default);
        Assert.False(pause.Pending);
        Assert.Equal("accepted", pause.Result!.Outcome);
        Assert.Equal("paused", pause.Result.Status);
        Assert.Equal("paused", (await gateway.GetAsync(Owner, created.SessionId, default)).Status);

        var resume = await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Resume, null, null, default);
        Assert.Equal("running", resume.Result!.Status);
        Assert.Equal("running", (await gateway.GetAsync(Owner, created.SessionId, default)).Status);

        var cancel = await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Cancel, null, null, default);
        Assert.Equal("finished", cancel.Result!.Status);
        var messages = await host.MessagesAsync(Owner, created.SessionId);
        var log = Assert.Single(messages, m => m.Type == MessageTypes.Log);
        Assert.Equal("cancelled", log.Metadata.GetProperty("reason").GetString());

        var again = await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Cancel, null, null, default);
        Assert.Equal("rejected", again.Result!.Outcome);
        Assert.Equal(RejectionCodes.NotRunning, again.Result.Code);
    }

    [Fact]
    public async Task TwoConcurrentPauses_OneIsAcceptedAndTheOtherAlreadyPaused()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        var gateway = host.Gateway;
        var created = (await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, "[steps=50] [delay=500] work", null), null, default)).View;

        var acks = await Task.WhenAll(
            gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Pause, null, null, default),
            gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Pause, null, null, default));

        Assert.Single(acks, a => a.Result!.Outcome == "accepted");
        var rejected = Assert.Single(acks, a => a.Result!.Outcome == "rejected");
        Assert.Equal(RejectionCodes.AlreadyPaused, rejected.Result!.Code);
        Assert.All(acks, a => Assert.Equal("paused", a.Result!.Status));
    }

    [Fact]
    public async Task BurstOfAlternatingPauseResume_AcrossGenerations_AllAppliedInOrder()
    {
        var options = new SessionsOptions { AckTimeout = TimeSpan.FromSeconds(20), CommandsPerGeneration = 7 };
        await using var host = await SessionTestHost.StartAsync(azurite, options);
        var gateway = host.Gateway;
        var created = (await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, "[ask] question first", null), null, default)).View;
        await host.WaitForStatusAsync(Owner, created.SessionId, "waiting_for_input");
        var before = await host.ViewAsync(Owner, created.SessionId);
        var instanceId = SessionIds.InstanceId(Owner, created.SessionId);

        // Raised back to back without waiting, so many arrive while the orchestration is busy or
        // continuing as new: any command lost or reordered would show as a 409 or a wrong count.
        const int commands = 240;
        for (var i = 0; i < commands; i++)
        {
            var kind = i % 2 == 0 ? CommandEnvelope.Pause : CommandEnvelope.Resume;
            await host.Client.RaiseEventAsync(instanceId, SessionOrchestration.CommandEvent, new CommandEnvelope($"burst-{i}", kind));
        }

        var after = await Eventually.ValueAsync(() => host.ViewAsync(Owner, created.SessionId),
            v => v.Counts!.Applied >= before.Counts!.Applied + commands, TimeSpan.FromSeconds(90), "all burst commands applied");

        Assert.Equal(before.Counts!.Applied + commands, after.Counts!.Applied);
        Assert.Equal(before.Counts.Rejected, after.Counts.Rejected);
        Assert.Equal("waiting_for_input", after.Status);
        var metadata = await host.Client.GetInstanceAsync(instanceId, getInputsAndOutputs: true);
        Assert.True(metadata!.ReadInputAs<SessionInput>()!.Generation >= commands / options.CommandsPerGeneration / 2,
            "the burst should span several ContinueAsNew generations");
    }

    [Fact]
    public async Task BurstOfMessagesWhilePaused_AcrossGenerations_RecordedInOrderExactlyOnce()
    {
        var options = new SessionsOptions { AckTimeout = TimeSpan.FromSeconds(20), CommandsPerGeneration = 5 };
        await using var host = await SessionTestHost.StartAsync(azurite, options);
        var gateway = host.Gateway;
        var created = (await gateway.CreateAsync(Owner, new NewSession("agi-0", 1000, "[ask] [steps=2] question first", null), null, default)).View;
        await host.WaitForStatusAsync(Owner, created.SessionId, "waiting_for_input");
        await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Pause, null, null, default);
        var instanceId = SessionIds.InstanceId(Owner, created.SessionId);

        const int count = 200;
        for (var i = 0; i < count; i++)
        {
            await host.Client.RaiseEventAsync(instanceId, SessionOrchestration.CommandEvent,
                new CommandEnvelope($"m-{i}", CommandEnvelope.Message, $"note {i}"));
        }

        var resume = await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Resume, null, null, default);
        Assert.Equal("accepted", resume.Result!.Outcome);
        await host.WaitForStatusAsync(Owner, created.SessionId, "finished");

        var messages = await host.MessagesAsync(Owner, created.SessionId);
        Assert.Equal(Enumerable.Range(1, messages.Count).Select(i => (long)i), messages.Select(m => m.Id));
        var notes = messages.Where(m => m.Type == MessageTypes.User && m.Content.GetString()!.StartsWith("note ", StringComparison.Ordinal))
            .Select(m => m.Content.GetString()).ToList();
        Assert.Equal(Enumerable.Range(0, count).Select(i => $"note {i}"), notes);
    }

    [Fact]
    public async Task IdleSession_Expires_WithErrorAndReason_AndCanStartANewTask()
    {
        var options = new SessionsOptions { AckTimeout = TimeSpan.FromSeconds(20), IdleTimeout = TimeSpan.FromSeconds(2) };
        await using var host = await SessionTestHost.StartAsync(azurite, options);
        var gateway = host.Gateway;
        var created = (await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, null, null), null, default)).View;

        var expired = await host.WaitForStatusAsync(Owner, created.SessionId, "error");
        Assert.Contains("expired", expired.Reason);
        var error = Assert.Single(await host.MessagesAsync(Owner, created.SessionId), m => m.Type == MessageTypes.Error);
        Assert.Equal("expired", error.Metadata.GetProperty("reason").GetString());

        var message = await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Message, "[steps=1] again", null, default);
        Assert.Equal("running", message.Result!.Status);
        await host.WaitForStatusAsync(Owner, created.SessionId, "finished");
    }

    [Fact]
    public async Task PausedSession_ExpiresToo()
    {
        var options = new SessionsOptions { AckTimeout = TimeSpan.FromSeconds(20), IdleTimeout = TimeSpan.FromSeconds(2) };
        await using var host = await SessionTestHost.StartAsync(azurite, options);
        var gateway = host.Gateway;
        var created = (await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, "[steps=100] [delay=300] long", null), null, default)).View;
        await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Pause, null, null, default);

        var expired = await host.WaitForStatusAsync(Owner, created.SessionId, "error", TimeSpan.FromSeconds(20));
        Assert.Contains("expired", expired.Reason);
    }

    [Fact]
    public async Task Delete_EndsTheOrchestration_PurgesItAndItsMessages()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        var gateway = host.Gateway;
        var created = (await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, "[steps=100] [delay=200] long", null), null, default)).View;
        await Eventually.ValueAsync(() => host.MessagesAsync(Owner, created.SessionId), m => m.Count >= 2, null, "some messages");

        Assert.True(await gateway.DeleteAsync(Owner, created.SessionId, default));

        Assert.Null(await host.Client.GetInstanceAsync(SessionIds.InstanceId(Owner, created.SessionId)));
        Assert.Empty(await host.MessagesAsync(Owner, created.SessionId));
        Assert.False(await gateway.DeleteAsync(Owner, created.SessionId, default));
    }

    [Fact]
    public async Task CommandToATerminatedSession_AnswersAsTheErrorRowOfTheStateTable_NotAnException()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        var gateway = host.Gateway;
        var created = (await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, null, null), null, default)).View;
        var instanceId = SessionIds.InstanceId(Owner, created.SessionId);
        await host.Client.TerminateInstanceAsync(instanceId, "test");
        await host.Client.WaitForInstanceCompletionAsync(instanceId);

        // It runs nothing any more, so it must not look "ready"; pause is refused as for any session in error.
        Assert.Equal("error", (await gateway.GetAsync(Owner, created.SessionId, default)).Status);
        var pause = await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Pause, null, null, default);
        Assert.Equal("rejected", pause.Result!.Outcome);
        Assert.Equal(RejectionCodes.NotRunning, pause.Result.Code);

        // A deleted one is gone.
        Assert.True(await gateway.DeleteAsync(Owner, created.SessionId, default));
        var error = await Assert.ThrowsAsync<AgentSessions.Functions.Http.ApiException>(
            () => gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Pause, null, null, default));
        Assert.Equal(404, error.StatusCode);
    }

    [Fact]
    public async Task ConcurrentCreatesWithOneIdempotencyKey_StartOneOrchestration()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        var gateway = host.Gateway;
        var request = new NewSession("agi-0", 100, "[steps=1] only once", null);

        var creates = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => gateway.CreateAsync(Owner, request, "retry-key-1", default))));

        var sessionId = creates[0].View.SessionId;
        Assert.All(creates, c => Assert.Equal(sessionId, c.View.SessionId));
        Assert.Single(creates, c => c.Created);
        await host.WaitForStatusAsync(Owner, sessionId, "finished");
        var messages = await host.MessagesAsync(Owner, sessionId);
        Assert.Single(messages, m => m.Type == MessageTypes.User);
        Assert.Single(messages, m => m.Type == MessageTypes.Done);

        var other = await gateway.CreateAsync("bob", request, "retry-key-1", default);
        Assert.NotEqual(sessionId, other.View.SessionId);
        Assert.True(other.Created);
    }
}
