using AgentSessions.Core.Sessions;

namespace AgentSessions.Core.Tests;

/// <summary>
/// The contract's "Session states" table, cell by cell. Finished and error are reached every way the
/// contract names (DONE, cancel; agent ERROR, failed step, max_steps, expiry): all must behave alike.
/// </summary>
public class StateTableTests
{
    private const string Accepted = "accepted";

    [Theory]
    // ready: no task yet
    [InlineData("ready", "message", SessionStatus.Running, Accepted)]
    [InlineData("ready", "pause", SessionStatus.Ready, RejectionCodes.NotRunning)]
    [InlineData("ready", "resume", SessionStatus.Ready, RejectionCodes.NotPaused)]
    [InlineData("ready", "cancel", SessionStatus.Ready, RejectionCodes.NotRunning)]
    // running
    [InlineData("running", "message", SessionStatus.Running, Accepted)]
    [InlineData("running", "pause", SessionStatus.Paused, Accepted)]
    [InlineData("running", "resume", SessionStatus.Running, RejectionCodes.NotPaused)]
    [InlineData("running", "cancel", SessionStatus.Finished, Accepted)]
    // waiting_for_input
    [InlineData("waiting_for_input", "message", SessionStatus.Running, Accepted)]
    [InlineData("waiting_for_input", "pause", SessionStatus.Paused, Accepted)]
    [InlineData("waiting_for_input", "resume", SessionStatus.WaitingForInput, RejectionCodes.NotPaused)]
    [InlineData("waiting_for_input", "cancel", SessionStatus.Finished, Accepted)]
    // paused, from running
    [InlineData("paused(running)", "message", SessionStatus.Paused, Accepted)]
    [InlineData("paused(running)", "pause", SessionStatus.Paused, RejectionCodes.AlreadyPaused)]
    [InlineData("paused(running)", "resume", SessionStatus.Running, Accepted)]
    [InlineData("paused(running)", "cancel", SessionStatus.Finished, Accepted)]
    // paused, from waiting_for_input
    [InlineData("paused(waiting_for_input)", "message", SessionStatus.Paused, Accepted)]
    [InlineData("paused(waiting_for_input)", "pause", SessionStatus.Paused, RejectionCodes.AlreadyPaused)]
    [InlineData("paused(waiting_for_input)", "resume", SessionStatus.WaitingForInput, Accepted)]
    [InlineData("paused(waiting_for_input)", "cancel", SessionStatus.Finished, Accepted)]
    // finished: DONE
    [InlineData("finished(done)", "message", SessionStatus.Running, Accepted)]
    [InlineData("finished(done)", "pause", SessionStatus.Finished, RejectionCodes.NotRunning)]
    [InlineData("finished(done)", "resume", SessionStatus.Finished, RejectionCodes.NotPaused)]
    [InlineData("finished(done)", "cancel", SessionStatus.Finished, RejectionCodes.NotRunning)]
    // finished: cancelled
    [InlineData("finished(cancelled)", "message", SessionStatus.Running, Accepted)]
    [InlineData("finished(cancelled)", "pause", SessionStatus.Finished, RejectionCodes.NotRunning)]
    [InlineData("finished(cancelled)", "resume", SessionStatus.Finished, RejectionCodes.NotPaused)]
    [InlineData("finished(cancelled)", "cancel", SessionStatus.Finished, RejectionCodes.NotRunning)]
    // error: agent reported ERROR
    [InlineData("error(agent)", "message", SessionStatus.Running, Accepted)]
    [InlineData("error(agent)", "pause", SessionStatus.Error, RejectionCodes.NotRunning)]
    [InlineData("error(agent)", "resume", SessionStatus.Error, RejectionCodes.NotPaused)]
    [InlineData("error(agent)", "cancel", SessionStatus.Error, RejectionCodes.NotRunning)]
    // error: step failed after retries
    [InlineData("error(failed_step)", "message", SessionStatus.Running, Accepted)]
    [InlineData("error(failed_step)", "pause", SessionStatus.Error, RejectionCodes.NotRunning)]
    [InlineData("error(failed_step)", "resume", SessionStatus.Error, RejectionCodes.NotPaused)]
    [InlineData("error(failed_step)", "cancel", SessionStatus.Error, RejectionCodes.NotRunning)]
    // error: max_steps hit
    [InlineData("error(max_steps)", "message", SessionStatus.Running, Accepted)]
    [InlineData("error(max_steps)", "pause", SessionStatus.Error, RejectionCodes.NotRunning)]
    [InlineData("error(max_steps)", "resume", SessionStatus.Error, RejectionCodes.NotPaused)]
    [InlineData("error(max_steps)", "cancel", SessionStatus.Error, RejectionCodes.NotRunning)]
    // error: expired
    [InlineData("error(expired)", "message", SessionStatus.Running, Accepted)]
    [InlineData("error(expired)", "pause", SessionStatus.Error, RejectionCodes.NotRunning)]
    [InlineData("error(expired)", "resume", SessionStatus.Error, RejectionCodes.NotPaused)]
    [InlineData("error(expired)", "cancel", SessionStatus.Error, RejectionCodes.NotRunning)]
    public void GivenState_WhenCommand_ThenStatusAndOutcomeMatchContract(
        string start, string command, SessionStatus expectedVisible, string expectedOutcome)
    {
        var driver = SessionDriver.Build(start);
        var before = driver.State;

        var decision = driver.Apply(SessionDriver.Command(command));

        Assert.Equal(expectedVisible, decision.State.VisibleStatus);
        if (expectedOutcome == Accepted)
        {
            Assert.IsType<AcceptedOutcome>(decision.Outcome);
        }
        else
        {
            var rejected = Assert.IsType<RejectedOutcome>(decision.Outcome);
            Assert.Equal(expectedOutcome, rejected.Code);
            Assert.False(string.IsNullOrWhiteSpace(rejected.Message));
            decision.AssertNoChange(before);
        }
    }

    [Theory]
    [InlineData("ready", 1)]
    [InlineData("finished(done)", 2)]
    [InlineData("finished(cancelled)", 2)]
    [InlineData("error(agent)", 2)]
    [InlineData("error(failed_step)", 2)]
    [InlineData("error(max_steps)", 2)]
    [InlineData("error(expired)", 2)]
    public void GivenNoActiveTask_WhenMessage_ThenNewTaskStartsAtStepOneWithTheMessageAsTask(string start, int expectedTask)
    {
        var driver = SessionDriver.Build(start);

        var decision = driver.Message("book a table");

        var step = decision.SingleStartedStep();
        Assert.Equal(expectedTask, step.TaskNumber);
        Assert.Equal(1, step.StepNumber);
        Assert.Equal("book a table", step.Task);
        Assert.Empty(step.NewUserMessages);
        Assert.Equal(expectedTask, decision.State.TaskCount);
        Assert.Null(decision.State.Reason);
    }

    [Theory]
    [InlineData("running")]
    [InlineData("waiting_for_input")]
    [InlineData("paused(running)")]
    [InlineData("paused(waiting_for_input)")]
    public void GivenActiveTask_WhenCancel_ThenFinishedWithCancelledLogAndNoStep(string start)
    {
        var driver = SessionDriver.Build(start);
        var lastId = driver.State.LastMessageId;

        var decision = driver.Cancel();

        Assert.Equal(SessionStatus.Finished, decision.State.VisibleStatus);
        Assert.False(decision.State.Paused);
        Assert.Null(decision.State.Task);
        Assert.Empty(decision.StartedSteps());
        var log = Assert.Single(decision.Messages());
        Assert.Equal(MessageTypes.Log, log.Type);
        Assert.Equal("cancelled", log.MetadataValue("reason"));
        Assert.Equal(lastId + 1, log.Id);
    }

    [Theory]
    [InlineData("running")]
    [InlineData("waiting_for_input")]
    public void GivenActiveTask_WhenPause_ThenPausedWithoutMessagesOrSteps(string start)
    {
        var driver = SessionDriver.Build(start);
        var statusBefore = driver.State.Status;

        var decision = driver.Pause();

        Assert.Empty(decision.Effects);
        Assert.True(decision.State.Paused);
        Assert.Equal(statusBefore, decision.State.Status);
    }
}
