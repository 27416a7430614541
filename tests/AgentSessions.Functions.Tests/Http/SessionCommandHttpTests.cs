using System.Text.Json;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Http;

public abstract class SessionCommandHttpTests(AzuriteFixture azurite) : HostedHttpTests(azurite)
{
    [Collection(AzuriteFixture.CollectionName)]
    public sealed class InMemory(AzuriteFixture azurite) : SessionCommandHttpTests(azurite)
    {
    }

    [Collection(AzureStorageFixture.CollectionName)]
    public sealed class OnAzureStorage(AzureStorageFixture azurite) : SessionCommandHttpTests(azurite)
    {
    }


    private async Task ExpectConflictAsync(Func<string, Task<HttpAnswer>> command, string id, string code, string statusAfter)
    {
        var answer = await command(id);
        answer.ExpectError(409, code);
        Assert.Equal(statusAfter, await Alice.StatusOfAsync(id));
    }

    private static void ExpectApplied(HttpAnswer answer, string message, string status)
    {
        answer.Expect(200);
        Assert.Equal($$"""{"success":true,"message":"{{message}}","status":"{{status}}"}""", answer.Raw);
    }

    [Fact]
    public async Task Ready_PauseResumeCancel_Are409()
    {
        var id = await Alice.CreateIdAsync();

        await ExpectConflictAsync(Alice.PauseAsync, id, "not_running", "ready");
        await ExpectConflictAsync(Alice.ResumeAsync, id, "not_paused", "ready");
        await ExpectConflictAsync(Alice.CancelAsync, id, "not_running", "ready");
    }

    [Fact]
    public async Task Running_PauseResumeCancel_EachAnswerIsTheStateAGetSeesNext()
    {
        var id = await Alice.CreateIdAsync(SessionsApi.LongGoal);
        Assert.Equal("running", await Alice.StatusOfAsync(id));

        await ExpectConflictAsync(Alice.ResumeAsync, id, "not_paused", "running");

        ExpectApplied(await Alice.PauseAsync(id), "Session paused successfully", "paused");
        Assert.Equal("paused", await Alice.StatusOfAsync(id));
        Assert.Equal("paused", (await Alice.GetAsync(id)).Expect(200).String("status"));

        await ExpectConflictAsync(Alice.PauseAsync, id, "already_paused", "paused");

        ExpectApplied(await Alice.ResumeAsync(id), "Session resumed successfully", "running");
        Assert.Equal("running", await Alice.StatusOfAsync(id));
        Assert.Equal("running", (await Alice.GetAsync(id)).Expect(200).String("status"));

        ExpectApplied(await Alice.CancelAsync(id), "Session cancelled successfully", "finished");
        Assert.Equal("finished", await Alice.StatusOfAsync(id));
        Assert.Equal("finished", (await Alice.GetAsync(id)).Expect(200).String("status"));

        await ExpectConflictAsync(Alice.CancelAsync, id, "not_running", "finished");
        await ExpectConflictAsync(Alice.PauseAsync, id, "not_running", "finished");
        await ExpectConflictAsync(Alice.ResumeAsync, id, "not_paused", "finished");
    }

    [Fact]
    public async Task Cancel_AppendsCancelledLog_AndKeepsTheSessionUsable()
    {
        var id = await Alice.CreateIdAsync(SessionsApi.LongGoal);
        ExpectApplied(await Alice.CancelAsync(id), "Session cancelled successfully", "finished");

        var messages = (await Alice.MessagesAsync(id)).Expect(200);
        var log = Assert.Single(messages.Json.GetProperty("messages").EnumerateArray(), m => m.GetProperty("type").GetString() == "LOG");
        Assert.Equal("cancelled", log.GetProperty("metadata").GetProperty("reason").GetString());
        Assert.Equal("finished", messages.String("status"));

        (await Alice.SendTextAsync(id, SessionsApi.LongGoal)).Expect(200);
        Assert.Equal("running", await Alice.StatusOfAsync(id));
    }

    [Fact]
    public async Task Paused_CancelFinishes()
    {
        var id = await Alice.CreateIdAsync(SessionsApi.LongGoal);
        ExpectApplied(await Alice.PauseAsync(id), "Session paused successfully", "paused");
        ExpectApplied(await Alice.CancelAsync(id), "Session cancelled successfully", "finished");
        Assert.Equal("finished", await Alice.StatusOfAsync(id));
        await ExpectConflictAsync(Alice.ResumeAsync, id, "not_paused", "finished");
    }

    [Fact]
    public async Task WaitingForInput_PauseThenResume_ReturnsToWaitingForInput()
    {
        var id = await Alice.CreateIdAsync("[ask] [steps=2] plan a trip");
        await Alice.WaitForStatusAsync(id, "waiting_for_input");

        await ExpectConflictAsync(Alice.ResumeAsync, id, "not_paused", "waiting_for_input");
        ExpectApplied(await Alice.PauseAsync(id), "Session paused successfully", "paused");
        Assert.Equal("paused", await Alice.StatusOfAsync(id));
        ExpectApplied(await Alice.ResumeAsync(id), "Session resumed successfully", "waiting_for_input");
        Assert.Equal("waiting_for_input", await Alice.StatusOfAsync(id));
        ExpectApplied(await Alice.CancelAsync(id), "Session cancelled successfully", "finished");
        Assert.Equal("finished", await Alice.StatusOfAsync(id));
    }

    [Fact]
    public async Task Error_PauseResumeCancel_Are409_MessageStartsANewTask()
    {
        var id = await Alice.CreateIdAsync("[fail] [steps=5] doomed");
        await Alice.WaitForStatusAsync(id, "error");

        await ExpectConflictAsync(Alice.PauseAsync, id, "not_running", "error");
        await ExpectConflictAsync(Alice.ResumeAsync, id, "not_paused", "error");
        await ExpectConflictAsync(Alice.CancelAsync, id, "not_running", "error");

        (await Alice.SendTextAsync(id, SessionsApi.LongGoal)).Expect(200);
        Assert.Equal("running", await Alice.StatusOfAsync(id));
    }

    [Fact]
    public async Task Finished_MessageStartsANewTask()
    {
        var id = await Alice.CreateIdAsync(SessionsApi.ShortGoal);
        await Alice.WaitForStatusAsync(id, "finished");

        await ExpectConflictAsync(Alice.PauseAsync, id, "not_running", "finished");
        (await Alice.SendTextAsync(id, SessionsApi.LongGoal)).Expect(200);
        Assert.Equal("running", await Alice.StatusOfAsync(id));
    }

    [Fact]
    public async Task TwoConcurrentPauses_OneAppliedOneAlreadyPaused()
    {
        var id = await Alice.CreateIdAsync(SessionsApi.LongGoal);

        var answers = await Task.WhenAll(Alice.PauseAsync(id), Alice.PauseAsync(id));

        var applied = Assert.Single(answers, a => a.Status == 200);
        ExpectApplied(applied, "Session paused successfully", "paused");
        Assert.Single(answers, a => a.Status == 409).ExpectError(409, "already_paused");
        Assert.Equal("paused", await Alice.StatusOfAsync(id));
    }

    [Fact]
    public async Task Commands_IgnoreAnyBody()
    {
        var id = await Alice.CreateIdAsync(SessionsApi.LongGoal);
        var call = new HttpCall("POST", $"/v1/sessions/{id}/pause").Bearer(SessionTestHost.AliceKey).Json("{ this is not json");
        var answer = await call.InvokeAsync(r => Host.SessionFunctions.PauseAsync(r, id, Host.Client, default));
        ExpectApplied(answer, "Session paused successfully", "paused");
    }
}

/// <summary>
/// Commands the orchestration cannot apply within the bound: the instance is suspended (as an
/// overloaded or restarting host would leave it), so the answer is deterministically 202, and once
/// it runs again the command is applied, not lost.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class PendingCommandHttpTests(AzuriteFixture azurite)
    : HostedHttpTests(azurite, new SessionsOptions { AckTimeout = TimeSpan.FromMilliseconds(300) })
{
    private static void AssertPendingBody(HttpAnswer answer)
    {
        answer.Expect(202);
        var json = answer.Json;
        Assert.Equal(["message", "pending", "status", "success"],
            json.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToArray());
        Assert.True(json.GetProperty("success").GetBoolean());
        Assert.True(json.GetProperty("pending").GetBoolean());
        Assert.False(string.IsNullOrWhiteSpace(answer.String("message")));
        Assert.Contains(answer.String("status"), SessionsApi.Statuses);
    }

    private async Task<string> SuspendedRunningSessionAsync()
    {
        var id = await Alice.CreateIdAsync(SessionsApi.LongGoal);
        await Alice.WaitForStatusAsync(id, "running");
        await Host.Client.SuspendInstanceAsync(SessionIds.InstanceId("alice", id), "test: hold the orchestration");
        return id;
    }

    [Fact]
    public async Task Pause_NotAppliedWithinTheBound_202Pending_ThenApplied()
    {
        var id = await SuspendedRunningSessionAsync();

        var pending = await Alice.PauseAsync(id);

        AssertPendingBody(pending);
        Assert.Equal("running", pending.String("status"));
        Assert.Equal("running", await Alice.StatusOfAsync(id));

        // Accepted means it will be applied, not lost.
        await Host.Client.ResumeInstanceAsync(SessionIds.InstanceId("alice", id), "test: release");
        await Alice.WaitForStatusAsync(id, "paused");
    }

    [Fact]
    public async Task Message_NotAppliedWithinTheBound_202Pending_ThenApplied()
    {
        var id = await SuspendedRunningSessionAsync();

        var pending = await Alice.SendTextAsync(id, "marker");

        AssertPendingBody(pending);
        await Host.Client.ResumeInstanceAsync(SessionIds.InstanceId("alice", id), "test: release");
        await Eventually.ValueAsync(async () => (await Alice.MessagesAsync(id)).Expect(200).Json.GetProperty("messages").EnumerateArray().ToList(),
            ms => ms.Any(m => m.GetProperty("type").GetString() == "USER" && m.GetProperty("content").ToString() == "marker"),
            null, "the pending message to be recorded");
    }
}
