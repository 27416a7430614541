using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;

namespace AgentSessions.Core.Tests;

public class CancelTests
{
    [Fact]
    public void GivenRunning_WhenCancelled_ThenCancelledLogIsAppendedAndSessionFinished()
    {
        var driver = SessionDriver.Running();
        var lastId = driver.State.LastMessageId;

        var decision = driver.Cancel();

        Assert.IsType<AcceptedOutcome>(decision.Outcome);
        var append = Assert.IsType<AppendMessages>(Assert.Single(decision.Effects));
        var log = Assert.Single(append.Messages);
        Assert.Equal(MessageTypes.Log, log.Type);
        Assert.Equal("cancelled", log.MetadataValue("reason"));
        Assert.Equal(lastId + 1, log.Id);
        Assert.Equal(driver.Now, log.Timestamp);
        Assert.Equal(SessionStatus.Finished, decision.State.VisibleStatus);
        Assert.Null(decision.State.Task);
        Assert.Equal("cancelled", decision.State.Reason);
    }

    [Theory]
    [InlineData(AgentStepStatus.Running)]
    [InlineData(AgentStepStatus.WaitingForInput)]
    [InlineData(AgentStepStatus.Finished)]
    [InlineData(AgentStepStatus.Error)]
    public void GivenCancelledWithStepInFlight_WhenLateStepOutputArrives_ThenIgnoredWithoutEffectsOrStateChange(AgentStepStatus status)
    {
        var driver = SessionDriver.Running();
        var (task, step) = driver.InFlight;
        driver.Cancel();
        var before = driver.State;

        var decision = driver.Apply(SessionDriver.Step(task, step, status, SessionDriver.Thought("late")));

        Assert.IsType<IgnoredOutcome>(decision.Outcome);
        decision.AssertNoChange(before);
    }

    [Fact]
    public void GivenCancelledWithStepInFlight_WhenLateFailureArrives_ThenIgnored()
    {
        var driver = SessionDriver.Running();
        var (task, step) = driver.InFlight;
        driver.Cancel();
        var before = driver.State;

        var decision = driver.Apply(new FailStep(task, step, "boom"));

        Assert.IsType<IgnoredOutcome>(decision.Outcome);
        decision.AssertNoChange(before);
    }

    [Fact]
    public void GivenCancelled_WhenNewMessage_ThenTaskTwoStartsAndTaskOnesLateOutputIsNotMistakenForIt()
    {
        var driver = SessionDriver.Running();
        var (oldTask, oldStep) = driver.InFlight;
        driver.Cancel();

        var started = driver.Message("start over");
        var before = driver.State;
        var late = driver.Apply(SessionDriver.Step(oldTask, oldStep, AgentStepStatus.Finished, SessionDriver.Done("old result")));
        var current = driver.Complete(AgentStepStatus.Finished, SessionDriver.Done("new result"));

        var step = started.SingleStartedStep();
        Assert.Equal(2, step.TaskNumber);
        Assert.Equal(1, step.StepNumber);
        Assert.Equal(oldStep, step.StepNumber);
        Assert.Equal("start over", step.Task);

        Assert.IsType<IgnoredOutcome>(late.Outcome);
        late.AssertNoChange(before);
        Assert.Equal(SessionStatus.Running, late.State.VisibleStatus);

        Assert.IsType<AcceptedOutcome>(current.Outcome);
        Assert.Equal(SessionStatus.Finished, current.State.VisibleStatus);
        Assert.Equal("new result", Assert.Single(current.Messages()).Text());
    }

    [Fact]
    public void GivenWaitingForInput_WhenCancelled_ThenFinishedAndAnswerStartsNewTask()
    {
        var driver = SessionDriver.WaitingForInput();

        var cancelled = driver.Cancel();
        var next = driver.Message("the work account");

        Assert.Equal(SessionStatus.Finished, cancelled.State.VisibleStatus);
        var step = next.SingleStartedStep();
        Assert.Equal(2, step.TaskNumber);
        Assert.Equal("the work account", step.Task);
        Assert.Empty(step.NewUserMessages);
    }

    [Fact]
    public void GivenPausedWithHeldMessage_WhenCancelled_ThenNotPausedAndHeldMessageDoesNotLeakIntoNextTask()
    {
        var driver = SessionDriver.PausedFromRunning();
        driver.Message("held for the old task");

        var cancelled = driver.Cancel();
        var resume = driver.Resume();
        var next = driver.Message("fresh start");

        Assert.Equal(SessionStatus.Finished, cancelled.State.VisibleStatus);
        Assert.False(cancelled.State.Paused);
        Assert.Empty(cancelled.StartedSteps());
        Assert.Equal(RejectionCodes.NotPaused, Assert.IsType<RejectedOutcome>(resume.Outcome).Code);
        var step = next.SingleStartedStep();
        Assert.Equal("fresh start", step.Task);
        Assert.Empty(step.NewUserMessages);
    }

    [Fact]
    public void GivenMessageQueuedWhileRunning_WhenCancelled_ThenItIsNotGivenToTheNextTask()
    {
        var driver = SessionDriver.Running();
        driver.Message("queued for the old task");

        driver.Cancel();
        var next = driver.Message("fresh start");

        Assert.Empty(next.SingleStartedStep().NewUserMessages);
    }

    [Fact]
    public void GivenCancelled_WhenCancelledAgain_ThenNotRunningAndNoSecondLog()
    {
        var driver = SessionDriver.Running();
        driver.Cancel();
        var before = driver.State;

        var decision = driver.Cancel();

        Assert.Equal(RejectionCodes.NotRunning, Assert.IsType<RejectedOutcome>(decision.Outcome).Code);
        decision.AssertNoChange(before);
    }

    [Fact]
    public void GivenCancelledTask_WhenSessionUsedAgain_ThenItIsFullyUsable()
    {
        var driver = SessionDriver.FinishedCancelled();
        driver.Message("again");

        var paused = driver.Pause();
        var resumed = driver.Resume();
        var done = driver.Complete(AgentStepStatus.Finished);

        Assert.Equal(SessionStatus.Paused, paused.State.VisibleStatus);
        Assert.Equal(SessionStatus.Running, resumed.State.VisibleStatus);
        Assert.Equal(SessionStatus.Finished, done.State.VisibleStatus);
        Assert.Null(done.State.Reason);
    }
}
