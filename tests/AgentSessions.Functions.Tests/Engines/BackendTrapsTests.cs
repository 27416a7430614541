using System.Text;
using System.Text.Json;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Http;
using AgentSessions.Functions.Tests.Infrastructure;
using AgentSessions.Testing;
using Microsoft.DurableTask.Client;
using Xunit.Abstractions;

namespace AgentSessions.Functions.Tests.Engines;

/// <summary>
/// What the production backend does that an in-memory engine hides: its limits, at-least-once delivery, orchestrations
/// that fail or are stopped from outside, deletes and creates cut short, and a backend that does not answer. Each test
/// is a trap a real host fell into; on the Azure Storage engine it fails where the host would.
/// </summary>
public abstract class BackendTrapsTests(AzuriteFixture azurite, ITestOutputHelper output) : HostedHttpTests(azurite)
{
    [Collection(AzuriteFixture.CollectionName)]
    public sealed class InMemory(AzuriteFixture azurite, ITestOutputHelper output) : BackendTrapsTests(azurite, output)
    {
    }

    [Collection(AzureStorageFixture.CollectionName)]
    public sealed class OnAzureStorage(AzureStorageFixture azurite, ITestOutputHelper output) : BackendTrapsTests(azurite, output)
    {
    }

    private const string Owner = "alice";

    /// <summary>The Functions host fails an orchestration whose custom status passes this (16 KB of UTF-16).</summary>
    private const int HostStatusLimitBytes = 16 * 1024;

    private readonly AzuriteFixture azurite = azurite;

    [Fact]
    public async Task EveryContractLimitAtItsMaximum_TheSessionStaysAlive_AndItsStatusUnder16KB()
    {
        // A goal of 10,000 characters: the contract's limit. Before the goal left the status, 8,000 failed the session.
        var goal = Pad("[steps=1000] [delay=500] limits ", 10_000);
        var created = (await Alice.CreateAsync(JsonSerializer.Serialize(new { goal }))).Expect(201);
        var id = created.String("session_id");
        Assert.Equal(goal, created.String("goal"));

        // A 2,000-character URL, 10,000-character messages, and more commands than the status's ring of outcomes,
        // refused ones included (each used to grow the status until the session died after a few dozen).
        var url = Pad("https://example.com/", 2000, 'u');
        (await new HttpCall("POST", $"/v1/sessions/{id}/navigate").Bearer(SessionTestHost.AliceKey)
            .Json(JsonSerializer.Serialize(new { url })).SendAsync(Server)).Expect(200);
        for (var i = 0; i < 3; i++)
        {
            (await Alice.SendTextAsync(id, Pad($"message {i} ", 10_000, 'm'))).Expect(200);
        }

        var commands = SessionStatusSnapshot.MaxResults + 16;
        for (var i = 0; i < commands; i++)
        {
            (await (i % 4 == 3 ? Alice.ResumeAsync(id) : Alice.PauseAsync(id))).Expect(i % 4 is 0 or 3 ? 200 : 409);
        }

        var metadata = await Host.Client.GetInstanceAsync(SessionIds.InstanceId(Owner, id), getInputsAndOutputs: true);
        Assert.Equal(OrchestrationRuntimeStatus.Running, metadata!.RuntimeStatus);
        var statusBytes = Encoding.Unicode.GetByteCount(metadata.SerializedCustomStatus!);
        output.WriteLine($"custom status after {commands + 5} commands at the limits: {statusBytes} bytes of UTF-16 (host limit {HostStatusLimitBytes})");
        Assert.InRange(statusBytes, 1, SessionStatusSnapshot.MaxUtf16Bytes);

        var read = (await Alice.GetAsync(id)).Expect(200);
        Assert.Equal(goal, read.String("goal"));
        Assert.Equal("running", read.String("status"));
        (await Alice.PauseAsync(id)).Expect(200);
        Assert.Equal("paused", await Alice.StatusOfAsync(id));
        var texts = (await Host.MessagesAsync(Owner, id)).Where(m => m.Type == MessageTypes.User).Select(m => m.Content.GetString()).ToList();
        Assert.Equal(goal, texts[0]);
        Assert.Equal(10_000, texts[1]!.Length);
    }

    [Fact]
    public async Task SameCommandDeliveredTwice_IsAppliedOnce()
    {
        var id = await Alice.CreateIdAsync("[steps=1000] [delay=100] duplicates");
        var instanceId = SessionIds.InstanceId(Owner, id);
        var pause = new CommandEnvelope(CommandEnvelope.NewId(), CommandEnvelope.Pause);
        var message = new CommandEnvelope(CommandEnvelope.NewId(), CommandEnvelope.Message, "only once");

        // As the provider may deliver one event twice (a partition moving, a worker dying after it applied it).
        foreach (var command in new[] { pause, pause, message, message })
        {
            await Host.Client.RaiseEventAsync(instanceId, SessionOrchestration.CommandEvent, command);
        }

        var view = await Eventually.ValueAsync(() => Host.ViewAsync(Owner, id), v => v.Results.Any(r => r.Id == message.Id), null, "both commands");
        // A second pause would have been refused (already_paused), a second message stored twice.
        Assert.Equal(new CommandCounts(3, 0), view.Counts);
        Assert.Equal("paused", view.Status);
        Assert.Single(await Host.MessagesAsync(Owner, id), m => m.Type == MessageTypes.User && m.Content.GetString() == "only once");
        (await Alice.ResumeAsync(id)).Expect(200);
    }

    [Fact]
    public async Task CommandOfAKindThisVersionDoesNotKnow_IsAnsweredIgnored_AndTheSessionCarriesOn()
    {
        var id = await Alice.CreateIdAsync("[steps=1000] [delay=100] poison");
        var instanceId = SessionIds.InstanceId(Owner, id);
        await Eventually.ValueAsync(() => Host.MessagesAsync(Owner, id), ms => ms.Any(m => m.Type == MessageTypes.Thought), null, "a step");

        // As one from a newer version during a rolling deploy: it used to wedge the session (no episode completed again).
        var unknown = new CommandEnvelope(CommandEnvelope.NewId(), "from-the-future");
        await Host.Client.RaiseEventAsync(instanceId, SessionOrchestration.CommandEvent, unknown);
        var view = await Eventually.ValueAsync(() => Host.ViewAsync(Owner, id), v => v.Results.Any(r => r.Id == unknown.Id), null, "its answer");

        Assert.Equal("ignored", view.Results.Single(r => r.Id == unknown.Id).Outcome);
        var thoughts = (await Host.MessagesAsync(Owner, id)).Count(m => m.Type == MessageTypes.Thought);
        await Eventually.ValueAsync(() => Host.MessagesAsync(Owner, id), ms => ms.Count(m => m.Type == MessageTypes.Thought) > thoughts + 2, null, "more steps");
        (await Alice.PauseAsync(id)).Expect(200);
        Assert.Equal(OrchestrationRuntimeStatus.Running, (await Host.Client.GetInstanceAsync(instanceId))!.RuntimeStatus);
    }

    [Fact]
    public async Task TerminatedOrchestration_ReadsAsError_CommandsAnsweredPerTheTable_AndAMessageRestartsIt()
    {
        var id = await Alice.CreateIdAsync("[steps=1000] [delay=100] terminated");
        var instanceId = SessionIds.InstanceId(Owner, id);
        await Eventually.ValueAsync(() => Host.MessagesAsync(Owner, id), ms => ms.Any(m => m.Type == MessageTypes.Thought), null, "a step");

        await Host.Client.TerminateInstanceAsync(instanceId, "stopped by an operator");
        await Eventually.ValueAsync(() => Host.Client.GetInstanceAsync(instanceId)!, m => m!.RuntimeStatus == OrchestrationRuntimeStatus.Terminated,
            null, "the orchestration to stop");

        await AssertStoppedSessionAsync(id);
    }

    private async Task AssertStoppedSessionAsync(string id)
    {
        var read = (await Alice.GetAsync(id)).Expect(200);
        Assert.Equal("error", read.String("status"));
        Assert.Equal("error", await Alice.StatusOfAsync(id));
        var listed = (await Alice.ListAsync()).Expect(200).Json.EnumerateArray().Single(s => s.GetProperty("session_id").GetString() == id);
        Assert.Equal("error", listed.GetProperty("status").GetString());

        // The state table for error: pause and resume are refused, cancel has nothing to cancel.
        (await Alice.PauseAsync(id)).ExpectError(409, "not_running");
        (await Alice.ResumeAsync(id)).ExpectError(409, "not_paused");
        (await Alice.CancelAsync(id)).ExpectError(409, "not_running");
        var before = await Host.MessagesAsync(Owner, id);

        // A message starts a new task, on a new orchestration that continues the transcript.
        (await Alice.SendTextAsync(id, "[steps=2] start again")).Expect(200);
        try
        {
            await Alice.WaitForStatusAsync(id, "finished");
        }
        catch (TimeoutException timeout)
        {
            var all = await Host.MessagesAsync(Owner, id);
            throw new TimeoutException(timeout.Message + "\n" + string.Join("\n", all.TakeLast(12).Select(m => $"{m.Id} {m.Type} {m.Content} {m.Metadata}")), timeout);
        }

        var messages = await Host.MessagesAsync(Owner, id);
        Assert.Equal(Enumerable.Range(1, messages.Count).Select(i => (long)i), messages.Select(m => m.Id));
        Assert.True(messages.Count > before.Count);
        Assert.Single(messages, m => m.Type == MessageTypes.User && m.Content.GetString() == "[steps=2] start again");
        Assert.Equal(MessageTypes.Done, messages[^1].Type);
        (await Alice.PauseAsync(id)).ExpectError(409, "not_running"); // finished
    }

    [Fact]
    public async Task DeleteCutShort_ASecondDeleteFinishesTheJob()
    {
        // Cut short after the orchestration stopped, before its history and messages went.
        var stopped = await Alice.CreateIdAsync("[steps=1000] [delay=100] half deleted");
        await Eventually.ValueAsync(() => Host.MessagesAsync(Owner, stopped), ms => ms.Count > 1, null, "messages");
        await Host.Client.TerminateInstanceAsync(SessionIds.InstanceId(Owner, stopped), "session deleted");
        await Eventually.ValueAsync(() => Host.Client.GetInstanceAsync(SessionIds.InstanceId(Owner, stopped))!,
            m => m!.RuntimeStatus == OrchestrationRuntimeStatus.Terminated, null, "the orchestration to stop");

        // Cut short after the history went, before the messages did.
        var purged = await Alice.CreateIdAsync("[steps=1000] [delay=100] purged");
        await Eventually.ValueAsync(() => Host.MessagesAsync(Owner, purged), ms => ms.Count > 1, null, "messages");
        await Host.Client.TerminateInstanceAsync(SessionIds.InstanceId(Owner, purged), "session deleted");
        await Eventually.ValueAsync(() => Host.Client.GetInstanceAsync(SessionIds.InstanceId(Owner, purged))!,
            m => m!.RuntimeStatus == OrchestrationRuntimeStatus.Terminated, null, "the orchestration to stop");
        await Host.Client.PurgeInstanceAsync(SessionIds.InstanceId(Owner, purged));

        foreach (var id in new[] { stopped, purged })
        {
            (await Alice.DeleteAsync(id)).Expect(200);
            Assert.Null(await Host.Client.GetInstanceAsync(SessionIds.InstanceId(Owner, id)));
            Assert.Empty(await Host.MessagesAsync(Owner, id));
            (await Alice.GetAsync(id)).ExpectError(404, "not_found");
        }
    }

    [Fact]
    public async Task DeletedSession_StaysDeleted_ItsIdempotencyKeyIsRefusedWithAClearError()
    {
        var key = "key-" + Guid.NewGuid().ToString("N");
        var id = (await Alice.CreateAsync(Alice.CreateCall("""{"goal":"[steps=2] once"}""").Header("Idempotency-Key", key))).Expect(201).String("session_id");
        Assert.Equal(id, (await Alice.CreateAsync(Alice.CreateCall("""{"goal":"[steps=2] once"}""").Header("Idempotency-Key", key))).Expect(200).String("session_id"));

        (await Alice.DeleteAsync(id)).Expect(200);

        var again = await Alice.CreateAsync(Alice.CreateCall("""{"goal":"[steps=2] once"}""").Header("Idempotency-Key", key));
        again.ExpectError(409, "session_deleted");
        (await Alice.GetAsync(id)).ExpectError(404, "not_found");
        Assert.Null(await Host.Client.GetInstanceAsync(SessionIds.InstanceId(Owner, id)));
        Assert.Empty(await Host.MessagesAsync(Owner, id));
        // A new key makes a new session.
        var fresh = (await Alice.CreateAsync(Alice.CreateCall("{}").Header("Idempotency-Key", key + "-2"))).Expect(201).String("session_id");
        Assert.NotEqual(id, fresh);
    }

    [Fact]
    public async Task CreateThatDiedAfterClaimingItsKey_DoesNotLockTheKey()
    {
        await using var host = await SessionTestHost.StartAsync(azurite,
            new SessionsOptions { AckTimeout = TimeSpan.FromSeconds(20), StaleClaimAfter = TimeSpan.FromSeconds(2) });
        var (api, key, instanceId) = await KeyClaimedByACreateAsync(host); // and then that create's process died

        var created = (await api.CreateAsync(api.CreateCall("""{"goal":"[steps=2] after a dead create"}""").Header("Idempotency-Key", key))).Expect(201);

        Assert.Equal(SessionIds.SessionIdOf(instanceId), created.String("session_id"));
        await api.WaitForStatusAsync(created.String("session_id"), "finished");
    }

    [Fact]
    public async Task CreateStillInProgress_AnotherCreateWithItsKeyAnswers409_NotASecondSession()
    {
        await using var host = await SessionTestHost.StartAsync(azurite,
            new SessionsOptions { AckTimeout = TimeSpan.FromSeconds(1), StaleClaimAfter = TimeSpan.FromMinutes(10) });
        var (api, key, instanceId) = await KeyClaimedByACreateAsync(host);

        (await api.CreateAsync(api.CreateCall("{}").Header("Idempotency-Key", key))).ExpectError(409, "create_in_progress");
        Assert.Null(await host.Client.GetInstanceAsync(instanceId));
    }

    /// <summary>An Idempotency-Key whose claim a create has taken, as it does first, before starting the session.</summary>
    private static async Task<(SessionsApi Api, string Key, string InstanceId)> KeyClaimedByACreateAsync(SessionTestHost host)
    {
        var key = "key-" + Guid.NewGuid().ToString("N");
        var instanceId = SessionIds.InstanceId(Owner, SessionIds.FromIdempotencyKey(Owner, key));
        Assert.True(await host.Claims.TryClaimAsync(instanceId, default));
        return (SessionsApi.Alice(host), key, instanceId);
    }

    [Fact]
    public async Task BackendNotAnswering_503WithRetryAfter_NeverNotFound()
    {
        var id = await Alice.CreateIdAsync("[steps=1000] [delay=100] outage");
        await Host.Engine.StopSidecarAsync();

        var calls = new Func<Task<HttpAnswer>>[]
        {
            () => Alice.GetAsync(id), () => Alice.StatusAsync(id), () => Alice.ListAsync(), () => Alice.PauseAsync(id),
            () => Alice.SendTextAsync(id, "hello"), () => Alice.CreateAsync("""{"goal":"x"}"""), () => Alice.DeleteAsync(id),
        };
        foreach (var call in calls)
        {
            var answer = await call();
            answer.ExpectError(503, "unavailable");
            Assert.True(answer.Headers.TryGetValue("Retry-After", out var retryAfter) && int.Parse(retryAfter, System.Globalization.CultureInfo.InvariantCulture) > 0,
                $"{answer.Request} answered 503 without Retry-After");
        }
    }

    [Fact]
    public async Task ThousandStepTask_WithCommandsInBetween_KeepsHistoryPerGenerationBounded()
    {
        var steps = azurite.Engine == DurableEngineKind.AzureStorage ? 250 : 1000;
        var (id, instanceId) = await StartTaskAsync(steps, "long task");
        var commands = 0;
        await WhileRunningAsync(id, everyMessages: 25, async () =>
        {
            // Commands in between: each pause and resume is an input of the generation too.
            Assert.Contains((await Alice.PauseAsync(id)).Status, new[] { 200, 409 });
            Assert.Contains((await Alice.ResumeAsync(id)).Status, new[] { 200, 409 });
            commands += 2;
        });

        var thoughts = (await Host.MessagesAsync(Owner, id)).Count(m => m.Type == MessageTypes.Thought);
        Assert.Equal(steps, thoughts);
        var history = Host.Engine.HistoryOf(instanceId) ?? throw new InvalidOperationException("the engine saw no episode");
        output.WriteLine($"{steps} steps and {commands} commands: {history.Executions.Count} generations, at most {history.LargestExecution} history events in one");
        // 100 inputs per generation, 300 at most while a step keeps running; a handful of events each.
        Assert.True(history.Executions.Count >= steps / 300, $"only {history.Executions.Count} generations");
        Assert.InRange(history.LargestExecution, 1, MaxHistoryPerGeneration);
    }

    [Fact]
    public async Task LongTask_WithMessagesInBetween_LeavesNoDurableTimerPendingBehindAContinueAsNew()
    {
        // A timer still pending when a generation continues as new fires later into a newer generation. The Azure
        // Storage provider finds no history for the timer's execution and returns its message to the queue as out of
        // order, five times over about half a minute; by its source, a command raised meanwhile can join that
        // message's batch and be discarded with it. Generations used to leave one step-deadline timer per step.
        // 100 inputs per generation: at least one ContinueAsNew (two on the faster in-memory engine).
        var steps = azurite.Engine == DurableEngineKind.AzureStorage ? 130 : 250;
        var (id, instanceId) = await StartTaskAsync(steps, "timers");
        var sent = 0;
        await WhileRunningAsync(id, everyMessages: 40,
            async () => Assert.Contains((await Alice.SendTextAsync(id, $"note {sent++}")).Status, new[] { 200, 202 }));

        var history = Host.Engine.HistoryOf(instanceId) ?? throw new InvalidOperationException("the engine saw no episode");
        output.WriteLine($"{steps} steps and {sent} messages: {history.Executions.Count} generations, {history.TimersLeftPending} timers left pending behind them");
        Assert.True(history.Executions.Count >= 2, $"only {history.Executions.Count} generations");
        Assert.Equal(0, history.TimersLeftPending);
    }

    [Fact]
    public async Task BurstOfCommands_ThatArrivedTogether_AreAppliedTogether_InOrder()
    {
        var id = await Alice.CreateIdAsync("[steps=1000] [delay=200] burst");
        (await Alice.PauseAsync(id)).Expect(200);
        var instanceId = SessionIds.InstanceId(Owner, id);
        var before = Host.Engine.HistoryOf(instanceId)!.LargestExecution;

        const int count = 60;
        var envelopes = Enumerable.Range(0, count).Select(i => new CommandEnvelope(CommandEnvelope.NewId(), CommandEnvelope.Message, $"burst {i}")).ToList();
        // Raised in order (each after the one before has been sent), as fast as the client goes.
        foreach (var envelope in envelopes)
        {
            await Host.Client.RaiseEventAsync(instanceId, SessionOrchestration.CommandEvent, envelope);
        }

        await Eventually.ValueAsync(() => Host.ViewAsync(Owner, id), v => v.Results.Any(r => r.Id == envelopes[^1].Id), null, "the burst applied");
        var texts = (await Host.MessagesAsync(Owner, id)).Where(m => m.Type == MessageTypes.User).Select(m => m.Content.GetString()).Skip(1).ToList();
        Assert.Equal(envelopes.Select(e => e.Text), texts);

        // One command applied on its own costs five history events or more (its event, the append scheduled and
        // completed, the episode's start and end); applied together, the burst's commands share appends and episodes.
        var history = Host.Engine.HistoryOf(instanceId)!;
        var added = history.LargestExecution - before;
        output.WriteLine($"{count} commands raised back to back: {added} history events (one at a time would be {count * 5} or more)");
        Assert.Single(history.Executions); // fewer inputs than a generation holds, so the counts compare
        // Measured 117-188 on Azure Storage (how many arrive together depends on when the provider dequeues them).
        Assert.InRange(added, count, count * 4);
    }

    /// <summary>A session whose task is <paramref name="steps"/> scripted steps.</summary>
    private async Task<(string Id, string InstanceId)> StartTaskAsync(int steps, string label)
    {
        var id = (await Alice.CreateAsync(JsonSerializer.Serialize(new { goal = $"[steps={steps}] {label}", max_steps = 1000 }))).Expect(201)
            .String("session_id");
        return (id, SessionIds.InstanceId(Owner, id));
    }

    /// <summary>Runs <paramref name="inBetween"/> each time the task has stored that many more messages, until it finishes.</summary>
    private async Task WhileRunningAsync(string id, int everyMessages, Func<Task> inBetween)
    {
        var seen = 0L;
        while (true)
        {
            var view = await Eventually.ValueAsync(() => Host.ViewAsync(Owner, id), v => v.Status == "finished" || v.LastMessageId >= seen + everyMessages,
                TimeSpan.FromMinutes(2), "the task to move on");
            if (view.Status == "finished")
            {
                return;
            }

            seen = view.LastMessageId;
            await inBetween();
        }
    }

    /// <summary>A fixed bound, whatever the task's length: a generation ends after 100 inputs (300 while a step keeps running); measured at most 771 events (868 with a deadline timer per step).</summary>
    private const int MaxHistoryPerGeneration = 1500;

    private static string Pad(string start, int length, char with = 'x') => start + new string(with, length - start.Length);
}
