using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;

namespace AgentSessions.Core.Tests;

public class PauseResumeTests
{
    [Fact]
    public void GivenPausedWhileStepInFlight_WhenStepCompletes_ThenItsMessagesAreKeptButNoStepStarts()
    {
        var driver = SessionDriver.PausedFromRunning();
        var lastId = driver.State.LastMessageId;

        var decision = driver.Complete(AgentStepStatus.Running, SessionDriver.Thought("found the page"));

        Assert.IsType<AcceptedOutcome>(decision.Outcome);
        Assert.Equal(SessionStatus.Paused, decision.State.VisibleStatus);
        Assert.Equal(SessionStatus.Running, decision.State.Status);
        var thought = Assert.Single(decision.Messages());
        Assert.Equal(MessageTypes.Thought, thought.Type);
        Assert.Equal(lastId + 1, thought.Id);
        Assert.Empty(decision.StartedSteps());
        Assert.Null(decision.State.Task?.StepInFlight);
    }

    [Fact]
    public void GivenPausedAndStepCompleted_WhenResumed_ThenNextStepStarts()
    {
        var driver = SessionDriver.PausedFromRunning();
        driver.Complete(AgentStepStatus.Running);

        var decision = driver.Resume();

        Assert.Equal(SessionStatus.Running, decision.State.VisibleStatus);
        Assert.Empty(decision.Messages());
        var step = decision.SingleStartedStep();
        Assert.Equal(1, step.TaskNumber);
        Assert.Equal(2, step.StepNumber);
    }

    [Fact]
    public void GivenPausedWithStepStillInFlight_WhenResumed_ThenNoSecondStepStartsUntilItCompletes()
    {
        var driver = SessionDriver.PausedFromRunning();

        var resumed = driver.Resume();
        var completed = driver.Complete(AgentStepStatus.Running);

        Assert.Equal(SessionStatus.Running, resumed.State.VisibleStatus);
        Assert.Empty(resumed.Effects);
        Assert.Equal(1, resumed.State.Task?.StepInFlight);
        Assert.Equal(2, completed.SingleStartedStep().StepNumber);
    }

    [Fact]
    public void GivenPausedFromRunning_WhenMessage_ThenRecordedAtOnceButDeliveredOnlyOnResume()
    {
        var driver = SessionDriver.PausedFromRunning();
        var lastId = driver.State.LastMessageId;

        var sent = driver.Message("use the cheaper option");
        var stepDone = driver.Complete(AgentStepStatus.Running);
        var resumed = driver.Resume();

        var user = Assert.Single(sent.Messages());
        Assert.Equal(MessageTypes.User, user.Type);
        Assert.Equal(lastId + 1, user.Id);
        Assert.Equal("use the cheaper option", user.Text());
        Assert.Empty(sent.StartedSteps());
        Assert.Equal(SessionStatus.Paused, sent.State.VisibleStatus);
        Assert.Empty(sent.State.Task?.UnreadInput ?? []);

        Assert.Empty(stepDone.StartedSteps());

        Assert.Empty(resumed.Messages());
        var step = resumed.SingleStartedStep();
        Assert.Equal(2, step.StepNumber);
        Assert.Equal(["use the cheaper option"], step.NewUserMessages);
        Assert.Empty(resumed.State.Held);
    }

    [Fact]
    public void GivenPausedFromWaiting_WhenMessageThenResume_ThenTheMessageAnswersTheQuestion()
    {
        var driver = SessionDriver.PausedFromWaiting();

        var sent = driver.Message("the work account");
        var resumed = driver.Resume();

        Assert.Equal(SessionStatus.Paused, sent.State.VisibleStatus);
        Assert.Empty(sent.StartedSteps());
        Assert.Equal(SessionStatus.Running, resumed.State.VisibleStatus);
        var step = resumed.SingleStartedStep();
        Assert.Equal(1, step.TaskNumber);
        Assert.Equal(2, step.StepNumber);
        Assert.Equal(["the work account"], step.NewUserMessages);
    }

    [Fact]
    public void GivenPausedFromWaiting_WhenResumedWithoutMessage_ThenWaitingForInputAgainAndNoStep()
    {
        var driver = SessionDriver.PausedFromWaiting();

        var decision = driver.Resume();

        Assert.Equal(SessionStatus.WaitingForInput, decision.State.VisibleStatus);
        Assert.Empty(decision.Effects);
    }

    [Fact]
    public void GivenSeveralMessagesWhilePaused_WhenResumed_ThenDeliveredInOrderInOneStep()
    {
        var driver = SessionDriver.PausedFromWaiting();
        driver.Message("one");
        driver.Message("two");
        driver.Message("three");

        var decision = driver.Resume();

        Assert.Equal(["one", "two", "three"], decision.SingleStartedStep().NewUserMessages);
    }

    [Theory]
    [InlineData(AgentStepStatus.Finished, SessionStatus.Finished)]
    [InlineData(AgentStepStatus.WaitingForInput, SessionStatus.WaitingForInput)]
    [InlineData(AgentStepStatus.Error, SessionStatus.Error)]
    [InlineData(AgentStepStatus.Running, SessionStatus.Running)]
    public void GivenPaused_WhenInFlightStepEnds_ThenStillPausedAndResumeReturnsToTheStepsStatus(
        AgentStepStatus stepStatus, SessionStatus expectedAfterResume)
    {
        var driver = SessionDriver.PausedFromRunning();

        var completed = driver.Complete(stepStatus, SessionDriver.Thought("last words"));
        var resumed = driver.Resume();

        Assert.Equal(SessionStatus.Paused, completed.State.VisibleStatus);
        Assert.Equal(expectedAfterResume, completed.State.Status);
        Assert.Equal(MessageTypes.Thought, completed.Messages()[0].Type);
        Assert.Empty(completed.StartedSteps());
        Assert.Equal(expectedAfterResume, resumed.State.VisibleStatus);
        Assert.IsType<AcceptedOutcome>(resumed.Outcome);
    }

    [Fact]
    public void GivenPaused_WhenInFlightStepFinishes_ThenDoneIsKeptAndNothingStartsOnResume()
    {
        var driver = SessionDriver.PausedFromRunning();

        var completed = driver.Complete(AgentStepStatus.Finished, SessionDriver.Done("booked"));
        var resumed = driver.Resume();

        Assert.Equal([MessageTypes.Done], completed.Types());
        Assert.Equal(SessionStatus.Finished, resumed.State.VisibleStatus);
        Assert.Empty(resumed.Effects);
    }

    [Fact]
    public void GivenPaused_WhenInFlightStepFails_ThenStillPausedAndResumeShowsError()
    {
        var driver = SessionDriver.PausedFromRunning();

        var failed = driver.Fail("timeout");
        var resumed = driver.Resume();

        Assert.Equal(SessionStatus.Paused, failed.State.VisibleStatus);
        Assert.Equal([MessageTypes.Error], failed.Types());
        Assert.Equal(SessionStatus.Error, resumed.State.VisibleStatus);
    }

    [Fact]
    public void GivenPausedAndTaskFinishedMeanwhile_WhenMessageHeldThenResume_ThenHeldMessageStartsNewTask()
    {
        var driver = SessionDriver.PausedFromRunning();
        driver.Complete(AgentStepStatus.Finished, SessionDriver.Done("booked"));
        driver.Message("now cancel the old booking");

        var resumed = driver.Resume();

        Assert.Equal(SessionStatus.Running, resumed.State.VisibleStatus);
        var step = resumed.SingleStartedStep();
        Assert.Equal(2, step.TaskNumber);
        Assert.Equal(1, step.StepNumber);
        Assert.Equal("now cancel the old booking", step.Task);
    }

    [Theory]
    [InlineData("paused(running)")]
    [InlineData("paused(waiting_for_input)")]
    public void GivenPaused_WhenPausedAgain_ThenAlreadyPausedAndNothingChanges(string start)
    {
        var driver = SessionDriver.Build(start);
        var before = driver.State;

        var decision = driver.Pause();

        Assert.Equal(RejectionCodes.AlreadyPaused, Assert.IsType<RejectedOutcome>(decision.Outcome).Code);
        decision.AssertNoChange(before);
    }

    [Fact]
    public void GivenPausedWithHeldMessage_WhenPausedAgain_ThenHeldMessageSurvivesTheRejection()
    {
        var driver = SessionDriver.PausedFromWaiting();
        driver.Message("held");
        driver.Pause();

        var resumed = driver.Resume();

        Assert.Equal(["held"], resumed.SingleStartedStep().NewUserMessages);
    }

    [Fact]
    public void GivenResumed_WhenResumedAgain_ThenNotPaused()
    {
        var driver = SessionDriver.PausedFromRunning();
        driver.Resume();
        var before = driver.State;

        var decision = driver.Resume();

        Assert.Equal(RejectionCodes.NotPaused, Assert.IsType<RejectedOutcome>(decision.Outcome).Code);
        decision.AssertNoChange(before);
    }

    [Fact]
    public void GivenPausedAndStepCompletedRunning_WhenMaxStepsAlreadyReached_ThenResumeEndsTaskWithMaxStepsError()
    {
        var driver = SessionDriver.Running(maxSteps: 1);
        driver.Pause();
        var completed = driver.Complete(AgentStepStatus.Running);

        var resumed = driver.Resume();

        Assert.Equal(SessionStatus.Paused, completed.State.VisibleStatus);
        Assert.Empty(completed.StartedSteps());
        Assert.Equal(SessionStatus.Error, resumed.State.VisibleStatus);
        Assert.Equal(SessionDecider.MaxStepsReached, resumed.State.Reason);
        Assert.Empty(resumed.StartedSteps());
        Assert.Equal([MessageTypes.Error], resumed.Types());
    }
}
