using System.Diagnostics;
using System.Text.Json;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Sessions;
using AgentSessions.Functions.Tests.Infrastructure;

namespace AgentSessions.Functions.Tests.Sessions;

/// <summary>
/// Whole tasks driven by the scripted agent through the real orchestration and message store:
/// what a client reads back (messages, ids, metadata, status) after each kind of task.
/// </summary>
public abstract class TaskFlowTests(AzuriteFixture azurite)
{
    [Collection(AzuriteFixture.CollectionName)]
    public sealed class InMemory(AzuriteFixture azurite) : TaskFlowTests(azurite)
    {
    }

    [Collection(AzureStorageFixture.CollectionName)]
    public sealed class OnAzureStorage(AzureStorageFixture azurite) : TaskFlowTests(azurite)
    {
    }

    private const string Owner = "alice";
    private static readonly TimeSpan TaskDeadline = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task FullTask_UserThenThoughtsThenDone_WithContiguousIdsAndStepMetadata()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        var gateway = host.Gateway;
        const string goal = "[steps=3] compare three laptops";

        var created = (await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, goal, null), null, default)).View;
        Assert.NotEqual("ready", created.Status);
        var view = await host.WaitForStatusAsync(Owner, created.SessionId, "finished", TaskDeadline);
        var messages = await host.MessagesAsync(Owner, created.SessionId);

        Assert.Equal(
            [MessageTypes.User, MessageTypes.Thought, MessageTypes.Thought, MessageTypes.Thought, MessageTypes.Done],
            messages.Select(m => m.Type));
        AssertContiguousFromOne(messages);
        Assert.Equal(messages.Count, view.LastMessageId);
        Assert.Null(view.Reason);

        var user = messages[0];
        Assert.Equal(goal, user.Content.GetString());
        Assert.False(user.Metadata.TryGetProperty("task", out _), "a USER message is not agent output");

        var thoughts = messages.Where(m => m.Type == MessageTypes.Thought).ToList();
        Assert.Equal([1, 2, 3], thoughts.Select(StepOf));
        Assert.All(thoughts, t => Assert.Equal(JsonValueKind.String, t.Content.ValueKind));

        var done = messages[^1];
        Assert.Equal(JsonValueKind.Object, done.Content.ValueKind);
        Assert.False(string.IsNullOrWhiteSpace(done.Content.GetProperty("summary").GetString()));
        Assert.Equal(3, done.Content.GetProperty("steps").GetInt32());
        Assert.Equal(3, StepOf(done));

        Assert.All(messages.Skip(1), m => Assert.Equal(1, TaskOf(m)));
        Assert.True(messages.Zip(messages.Skip(1)).All(p => p.First.Timestamp <= p.Second.Timestamp),
            "timestamps must not go backwards");
        Assert.Equal("finished", (await gateway.GetAsync(Owner, created.SessionId, default)).Status);
    }

    [Fact]
    public async Task Ask_QuestionAfterStepOne_AnswerResumesTask_DoneQuotesTheAnswer()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        var gateway = host.Gateway;
        const string answer = "prefer window seats";

        var created = (await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, "[ask] [steps=3] book a flight", null), null, default)).View;
        await host.WaitForStatusAsync(Owner, created.SessionId, "waiting_for_input", TaskDeadline);

        var asked = await host.MessagesAsync(Owner, created.SessionId);
        Assert.Equal([MessageTypes.User, MessageTypes.Thought, MessageTypes.Question], asked.Select(m => m.Type));
        Assert.Equal(1, StepOf(asked[2]));
        Assert.Equal(1, TaskOf(asked[2]));

        var ack = await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Message, answer, null, default);
        Assert.False(ack.Pending);
        Assert.Equal("accepted", ack.Result!.Outcome);
        Assert.Equal("running", ack.Result.Status);

        await host.WaitForStatusAsync(Owner, created.SessionId, "finished", TaskDeadline);
        var messages = await host.MessagesAsync(Owner, created.SessionId);
        Assert.Equal(
            [MessageTypes.User, MessageTypes.Thought, MessageTypes.Question, MessageTypes.User, MessageTypes.Thought,
                MessageTypes.Thought, MessageTypes.Done],
            messages.Select(m => m.Type));
        AssertContiguousFromOne(messages);
        Assert.Equal(answer, messages[3].Content.GetString());
        Assert.Equal([1, 2, 3], messages.Where(m => m.Type == MessageTypes.Thought).Select(StepOf));

        var done = messages[^1].Content;
        Assert.Equal(answer, done.GetProperty("answer").GetString());
        Assert.Contains(answer, done.GetProperty("summary").GetString(), StringComparison.Ordinal);
        Assert.Equal(3, done.GetProperty("steps").GetInt32());
    }

    [Fact]
    public async Task Fail_EndsInError_WithAnErrorMessageAtStepTwo()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        var gateway = host.Gateway;

        var created = (await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, "[fail] [steps=4] doomed", null), null, default)).View;
        var view = await host.WaitForStatusAsync(Owner, created.SessionId, "error", TaskDeadline);
        var messages = await host.MessagesAsync(Owner, created.SessionId);

        Assert.Equal([MessageTypes.User, MessageTypes.Thought, MessageTypes.Error], messages.Select(m => m.Type));
        AssertContiguousFromOne(messages);
        Assert.Equal(messages.Count, view.LastMessageId);
        Assert.Equal(1, StepOf(messages[1]));
        var error = messages[2];
        Assert.Equal(2, StepOf(error));
        Assert.Equal(1, TaskOf(error));
        Assert.Contains("step 2", error.Content.GetString(), StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(messages, m => m.Type == MessageTypes.Done);
        Assert.False(string.IsNullOrEmpty(view.Reason));
    }

    [Fact]
    public async Task MaxSteps_StopsTheTaskInError_AfterExactlyMaxStepsThoughts()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        var gateway = host.Gateway;

        var created = (await gateway.CreateAsync(Owner, new NewSession("agi-0", 2, "[steps=5] too long", null), null, default)).View;
        var view = await host.WaitForStatusAsync(Owner, created.SessionId, "error", TaskDeadline);
        var messages = await host.MessagesAsync(Owner, created.SessionId);

        var thoughts = messages.Where(m => m.Type == MessageTypes.Thought).ToList();
        Assert.Equal(2, thoughts.Count);
        Assert.Equal([1, 2], thoughts.Select(StepOf));
        var error = Assert.Single(messages, m => m.Type == MessageTypes.Error);
        Assert.Contains(SessionDecider.MaxStepsReached, error.Content.GetString(), StringComparison.Ordinal);
        Assert.Equal(MessageTypes.Error, messages[^1].Type);
        Assert.DoesNotContain(messages, m => m.Type == MessageTypes.Done);
        AssertContiguousFromOne(messages);
        Assert.Equal(messages.Count, view.LastMessageId);
        Assert.Equal(SessionDecider.MaxStepsReached, view.Reason);
    }

    [Fact]
    public async Task PauseMidTask_NoNewStepStartsWhilePaused_ResumeFinishesAllSteps()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        var gateway = host.Gateway;
        const int stepDelayMs = 300;

        var created = (await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, $"[steps=6] [delay={stepDelayMs}] pausable", null), null, default)).View;
        await Eventually.ValueAsync(() => host.MessagesAsync(Owner, created.SessionId),
            ms => ms.Any(m => m.Type == MessageTypes.Thought), TaskDeadline, "the first THOUGHT");

        var pause = await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Pause, null, null, default);
        Assert.False(pause.Pending);
        Assert.Equal("accepted", pause.Result!.Outcome);
        Assert.Equal("paused", pause.Result.Status);

        var atPause = await host.MessagesAsync(Owner, created.SessionId);
        Assert.DoesNotContain(atPause, m => m.Type == MessageTypes.Done);
        // Steps run back to back, so when the pause landed the step after the last recorded THOUGHT
        // was in flight (or, if it finished since, is the last recorded one): no step beyond it may start.
        var lastAllowedStep = atPause.Where(m => m.Type == MessageTypes.Thought).Max(StepOf) + 1;
        Assert.True(lastAllowedStep < 6, $"the pause should land mid-task, but step {lastAllowedStep} was already in flight");
        var countAtPause = atPause.Count;

        await HoldsForAsync(TimeSpan.FromMilliseconds(4 * stepDelayMs), async () =>
        {
            Assert.Equal("paused", (await host.ViewAsync(Owner, created.SessionId)).Status);
            var now = await host.MessagesAsync(Owner, created.SessionId);
            Assert.All(now.Where(m => m.Type == MessageTypes.Thought), t => Assert.True(StepOf(t) <= lastAllowedStep,
                $"step {StepOf(t)} ran while paused (at most step {lastAllowedStep}, the one in flight, may finish)"));
            Assert.True(now.Count <= countAtPause + 1, $"{now.Count - countAtPause} messages appeared while paused; at most 1 expected");
            Assert.DoesNotContain(now, m => m.Type == MessageTypes.Done);
        });

        var resume = await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Resume, null, null, default);
        Assert.Equal("accepted", resume.Result!.Outcome);
        Assert.Equal("running", resume.Result.Status);

        var view = await host.WaitForStatusAsync(Owner, created.SessionId, "finished", TaskDeadline);
        var messages = await host.MessagesAsync(Owner, created.SessionId);
        Assert.Equal([1, 2, 3, 4, 5, 6], messages.Where(m => m.Type == MessageTypes.Thought).Select(StepOf));
        var done = Assert.Single(messages, m => m.Type == MessageTypes.Done);
        Assert.Equal(6, done.Content.GetProperty("steps").GetInt32());
        Assert.Equal(MessageTypes.Done, messages[^1].Type);
        AssertContiguousFromOne(messages);
        Assert.Equal(messages.Count, view.LastMessageId);
    }

    [Fact]
    public async Task CancelMidStep_LogsCancelled_DiscardsLateOutput_AndTheSessionTakesANewTask()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        var gateway = host.Gateway;
        const int stepDelayMs = 1500;

        var created = (await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, $"[steps=3] [delay={stepDelayMs}] slow", null), null, default)).View;
        Assert.Equal("running", created.Status);
        // Step 1 is in flight: the session runs and only the goal has been recorded.
        Assert.Equal([MessageTypes.User], (await host.MessagesAsync(Owner, created.SessionId)).Select(m => m.Type));

        var cancel = await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Cancel, null, null, default);
        var cancelledAt = Stopwatch.StartNew();
        Assert.False(cancel.Pending);
        Assert.Equal("accepted", cancel.Result!.Outcome);
        Assert.Equal("finished", cancel.Result.Status);

        var afterCancel = await host.MessagesAsync(Owner, created.SessionId);
        Assert.Equal([MessageTypes.User, MessageTypes.Log], afterCancel.Select(m => m.Type));
        var log = afterCancel[^1];
        Assert.Equal("cancelled", log.Metadata.GetProperty("reason").GetString());
        var view = await host.ViewAsync(Owner, created.SessionId);
        Assert.Equal("finished", view.Status);
        Assert.Equal("cancelled", view.Reason);

        // The abandoned step ends about 1.5 s after it started; watch until well past that.
        await HoldsForAsync(TimeSpan.FromMilliseconds(2000) - cancelledAt.Elapsed + TimeSpan.FromMilliseconds(stepDelayMs / 3), async () =>
        {
            Assert.Equal("finished", (await host.ViewAsync(Owner, created.SessionId)).Status);
            var now = await host.MessagesAsync(Owner, created.SessionId);
            Assert.DoesNotContain(now, m => m.Id > log.Id);
        });
        Assert.True(cancelledAt.Elapsed > TimeSpan.FromSeconds(2));

        var again = await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Message, "[steps=1] again", null, default);
        Assert.Equal("accepted", again.Result!.Outcome);
        Assert.Equal("running", again.Result.Status);
        var final = await host.WaitForStatusAsync(Owner, created.SessionId, "finished", TaskDeadline);

        var messages = await host.MessagesAsync(Owner, created.SessionId);
        Assert.Equal(
            [MessageTypes.User, MessageTypes.Log, MessageTypes.User, MessageTypes.Thought, MessageTypes.Done],
            messages.Select(m => m.Type));
        Assert.Equal("[steps=1] again", messages[2].Content.GetString());
        Assert.All(messages.Skip(3), m =>
        {
            Assert.Equal(2, TaskOf(m));
            Assert.Equal(1, StepOf(m));
        });
        Assert.DoesNotContain(messages, m => m.Metadata.TryGetProperty("task", out var task) && task.GetInt32() == 1);
        AssertContiguousFromOne(messages);
        Assert.Equal(messages.Count, final.LastMessageId);
        Assert.Null(final.Reason);
    }

    [Fact]
    public async Task AnswerSentWhilePaused_IsRecordedAtOnce_AndDeliveredOnResume()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        var gateway = host.Gateway;
        const string answer = "stay under 500 euros";

        var created = (await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, "[ask] [steps=2] plan a weekend", null), null, default)).View;
        await host.WaitForStatusAsync(Owner, created.SessionId, "waiting_for_input", TaskDeadline);

        var pause = await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Pause, null, null, default);
        Assert.Equal("paused", pause.Result!.Status);

        var message = await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Message, answer, null, default);
        Assert.False(message.Pending);
        Assert.Equal("accepted", message.Result!.Outcome);
        Assert.Equal("paused", message.Result.Status);

        var recorded = await host.MessagesAsync(Owner, created.SessionId);
        Assert.Equal([MessageTypes.User, MessageTypes.Thought, MessageTypes.Question, MessageTypes.User], recorded.Select(m => m.Type));
        Assert.Equal(answer, recorded[^1].Content.GetString());

        // Steps have no delay here, so a delivered answer would run step 2 at once.
        await HoldsForAsync(TimeSpan.FromMilliseconds(500), async () =>
        {
            Assert.Equal("paused", (await host.ViewAsync(Owner, created.SessionId)).Status);
            Assert.Equal(recorded.Count, (await host.MessagesAsync(Owner, created.SessionId)).Count);
        });

        var resume = await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Resume, null, null, default);
        Assert.Equal("accepted", resume.Result!.Outcome);
        Assert.Equal("running", resume.Result.Status);

        await host.WaitForStatusAsync(Owner, created.SessionId, "finished", TaskDeadline);
        var messages = await host.MessagesAsync(Owner, created.SessionId);
        Assert.Equal(
            [MessageTypes.User, MessageTypes.Thought, MessageTypes.Question, MessageTypes.User, MessageTypes.Thought, MessageTypes.Done],
            messages.Select(m => m.Type));
        Assert.Single(messages, m => m.Type == MessageTypes.User && m.Content.GetString() == answer);
        var done = messages[^1].Content;
        Assert.Equal(answer, done.GetProperty("answer").GetString());
        Assert.Contains(answer, done.GetProperty("summary").GetString(), StringComparison.Ordinal);
        AssertContiguousFromOne(messages);
    }

    [Fact]
    public async Task PagingTheStoreTwoAtATime_ReturnsTheFullTranscript_WithoutGapsOrRepeats()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        var gateway = host.Gateway;

        var created = (await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, "[steps=5] page me", null), null, default)).View;
        await host.WaitForStatusAsync(Owner, created.SessionId, "finished", TaskDeadline);
        var all = await host.MessagesAsync(Owner, created.SessionId);
        Assert.Equal(7, all.Count);

        var key = SessionIds.InstanceId(Owner, created.SessionId);
        var paged = new List<SessionMessage>();
        var pages = 0;
        long afterId = 0;
        while (true)
        {
            var page = await host.Store.ReadAsync(key, afterId, limit: 2);
            Assert.True(page.Count <= 2, $"page of {page.Count} messages with limit 2");
            if (page.Count == 0)
            {
                break;
            }

            Assert.All(page, m => Assert.True(m.Id > afterId, $"id {m.Id} is not after {afterId}"));
            paged.AddRange(page);
            afterId = page[^1].Id;
            Assert.True(++pages <= all.Count, "paging does not end");
        }

        Assert.Equal(4, pages);
        Assert.Equal(all.Select(Describe), paged.Select(Describe));
        AssertContiguousFromOne(paged);
        Assert.Empty(await host.Store.ReadAsync(key, all[^1].Id, limit: 2));
    }

    [Fact]
    public async Task AfterSeveralTasks_IdsAreExactlyOneToLastMessageId()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        var gateway = host.Gateway;

        var created = (await gateway.CreateAsync(Owner, new NewSession("agi-0", 100, "[steps=2] first", null), null, default)).View;
        await host.WaitForStatusAsync(Owner, created.SessionId, "finished", TaskDeadline);
        await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Message, "[ask] [steps=2] second", null, default);
        await host.WaitForStatusAsync(Owner, created.SessionId, "waiting_for_input", TaskDeadline);
        await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Message, "an answer", null, default);
        await host.WaitForStatusAsync(Owner, created.SessionId, "finished", TaskDeadline);
        await gateway.SendAsync(Owner, created.SessionId, CommandEnvelope.Message, "[fail] third", null, default);
        var view = await host.WaitForStatusAsync(Owner, created.SessionId, "error", TaskDeadline);

        var messages = await host.MessagesAsync(Owner, created.SessionId);
        Assert.Equal(view.LastMessageId, messages.Count);
        Assert.Equal(Enumerable.Range(1, (int)view.LastMessageId).Select(i => (long)i), messages.Select(m => m.Id));
        Assert.Empty(await host.Store.ReadAsync(SessionIds.InstanceId(Owner, created.SessionId), view.LastMessageId, 10));

        // Each task's agent output is tagged with that task, and tasks follow one another.
        var agentTasks = messages.Where(m => m.Type != MessageTypes.User).Select(TaskOf).ToList();
        Assert.Equal([1, 2, 3], agentTasks.Distinct());
        Assert.Equal(agentTasks.Order(), agentTasks);
        Assert.Equal(3, messages.Count(m => m.Type == MessageTypes.User && m.Content.GetString() != "an answer"));
    }

    internal static int StepOf(SessionMessage message) => message.Metadata.GetProperty("step").GetInt32();

    internal static int TaskOf(SessionMessage message) => message.Metadata.GetProperty("task").GetInt32();

    internal static void AssertContiguousFromOne(IReadOnlyList<SessionMessage> messages) =>
        Assert.Equal(Enumerable.Range(1, messages.Count).Select(i => (long)i), messages.Select(m => m.Id));

    private static string Describe(SessionMessage m) =>
        $"{m.Id}|{m.Type}|{m.Content.GetRawText()}|{m.Metadata.GetRawText()}|{m.Timestamp:O}";

    /// <summary>
    /// Checks <paramref name="check"/> over and over until <paramref name="duration"/> has passed: a
    /// condition that must hold throughout a window, not a sleep to wait for something.
    /// </summary>
    private static async Task HoldsForAsync(TimeSpan duration, Func<Task> check)
    {
        var watch = Stopwatch.StartNew();
        do
        {
            await check();
            await Task.Delay(25);
        }
        while (watch.Elapsed < duration);

        await check();
    }
}
