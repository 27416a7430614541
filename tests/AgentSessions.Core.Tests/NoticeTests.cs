using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;

namespace AgentSessions.Core.Tests;

public sealed class NoticeTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);

    private static (SessionState State, List<SessionNotice> Notices) Apply(SessionState state, SessionCommand command)
    {
        var decision = SessionDecider.Decide(state, command, Now);
        return (decision.State, [.. SessionNotices.Between(state, decision)]);
    }

    [Fact]
    public void GivenReadySession_WhenMessageStartsATask_ThenTaskStartedThenStatusChanged()
    {
        var (_, notices) = Apply(SessionState.New("s", "agi-0", 10, null, Now), new SendMessage("find flights"));

        Assert.Equal([SessionNotices.TaskStarted, SessionNotices.StatusChanged], notices.Select(n => n.Event));
        Assert.Equal(1, notices[0].Data.GetProperty("task_number").GetInt32());
        Assert.Equal("find flights", notices[0].Data.GetProperty("task").GetString());
        Assert.Equal("ready", notices[1].Data.GetProperty("old_status").GetString());
        Assert.Equal("running", notices[1].Data.GetProperty("new_status").GetString());
    }

    [Fact]
    public void GivenRunningTask_WhenAgentAsksThenFinishes_ThenQuestionAndDoneNoticesCarryTheirMessages()
    {
        var (running, _) = Apply(SessionState.New("s", "agi-0", 10, null, Now), new SendMessage("task"));
        var question = new AgentStepResult(AgentStepStatus.WaitingForInput,
            [new AgentMessage(MessageTypes.Question, System.Text.Json.JsonSerializer.SerializeToElement("which city?"))]);
        var (waiting, asked) = Apply(running, new CompleteStep(1, 1, question));

        Assert.Equal([SessionNotices.TaskQuestion, SessionNotices.StatusChanged], asked.Select(n => n.Event));
        Assert.Equal("which city?", asked[0].Data.GetProperty("question").GetString());
        Assert.Equal(waiting.LastMessageId, asked[0].Data.GetProperty("message_id").GetInt64());

        var (answered, _) = Apply(waiting, new SendMessage("Paris"));
        var done = new AgentStepResult(AgentStepStatus.Finished, []);
        var (_, finished) = Apply(answered, new CompleteStep(1, 2, done));
        Assert.Equal([SessionNotices.TaskDone, SessionNotices.StatusChanged], finished.Select(n => n.Event));
        Assert.Equal("finished", finished[1].Data.GetProperty("new_status").GetString());
    }

    [Fact]
    public void GivenRejectedOrIgnoredCommand_ThenNoNotices()
    {
        var ready = SessionState.New("s", "agi-0", 10, null, Now);
        Assert.Empty(Apply(ready, new PauseSession()).Notices);
        Assert.Empty(Apply(ready, new CompleteStep(7, 1, new AgentStepResult(AgentStepStatus.Finished, []))).Notices);
    }

    [Fact]
    public void GivenFailedStep_ThenTaskErrorThenStatusChangedToError()
    {
        var (running, _) = Apply(SessionState.New("s", "agi-0", 10, null, Now), new SendMessage("task"));
        var (_, notices) = Apply(running, new FailStep(1, 1, "agent unreachable"));

        Assert.Equal([SessionNotices.TaskError, SessionNotices.StatusChanged], notices.Select(n => n.Event));
        Assert.Contains("agent unreachable", notices[0].Data.GetProperty("error").GetString());
    }

    [Fact]
    public void GivenPauseAndDelete_ThenStatusChangedAndDeleted()
    {
        var (running, _) = Apply(SessionState.New("s", "agi-0", 10, null, Now), new SendMessage("task"));
        var (paused, pausedNotices) = Apply(running, new PauseSession());
        Assert.Equal("paused", Assert.Single(pausedNotices).Data.GetProperty("new_status").GetString());

        var (_, deleted) = Apply(paused, new DeleteSession());
        Assert.Equal(SessionNotices.Deleted, deleted.Last().Event);
    }
}
