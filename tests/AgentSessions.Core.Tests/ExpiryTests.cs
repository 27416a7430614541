using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;

namespace AgentSessions.Core.Tests;

public class ExpiryTests
{
    [Theory]
    [InlineData("ready")]
    [InlineData("running")]
    [InlineData("waiting_for_input")]
    [InlineData("paused(running)")]
    [InlineData("paused(waiting_for_input)")]
    [InlineData("finished(done)")]
    [InlineData("finished(cancelled)")]
    [InlineData("error(agent)")]
    [InlineData("error(failed_step)")]
    [InlineData("error(max_steps)")]
    public void GivenAnyStatus_WhenExpired_ThenErrorWithExpiredMessageAndDormant(string start)
    {
        var driver = SessionDriver.Build(start);
        var lastId = driver.State.LastMessageId;
        var lastActivity = driver.State.LastActivityAt;

        var decision = driver.Expire();

        Assert.IsType<AcceptedOutcome>(decision.Outcome);
        Assert.Equal(SessionStatus.Error, decision.State.VisibleStatus);
        Assert.False(decision.State.Paused);
        Assert.True(decision.State.Dormant);
        Assert.Null(decision.State.Task);
        Assert.Empty(decision.State.Held);
        Assert.NotNull(decision.State.Reason);
        var append = Assert.IsType<AppendMessages>(Assert.Single(decision.Effects));
        var error = Assert.Single(append.Messages);
        Assert.Equal(MessageTypes.Error, error.Type);
        Assert.Equal("expired", error.MetadataValue("reason"));
        Assert.Equal(lastId + 1, error.Id);
        Assert.Equal(lastActivity, decision.State.LastActivityAt);
    }

    [Theory]
    [InlineData("ready")]
    [InlineData("running")]
    [InlineData("paused(waiting_for_input)")]
    [InlineData("finished(done)")]
    public void GivenExpired_WhenExpiredAgain_ThenIgnored(string start)
    {
        var driver = SessionDriver.Build(start);
        driver.Expire();
        var before = driver.State;

        var decision = driver.Expire();

        Assert.IsType<IgnoredOutcome>(decision.Outcome);
        decision.AssertNoChange(before);
    }

    [Fact]
    public void GivenExpiredWhileStepInFlight_WhenLateOutputArrives_ThenIgnored()
    {
        var driver = SessionDriver.Running();
        var (task, step) = driver.InFlight;
        driver.Expire();
        var before = driver.State;

        var decision = driver.Apply(SessionDriver.Step(task, step, AgentStepStatus.Finished, SessionDriver.Done("late")));

        Assert.IsType<IgnoredOutcome>(decision.Outcome);
        decision.AssertNoChange(before);
    }

    [Fact]
    public void GivenExpired_WhenMessage_ThenDormantClearsAndNewTaskStarts()
    {
        var driver = SessionDriver.ErrorFromExpiry();

        var decision = driver.Message("wake up");

        Assert.False(decision.State.Dormant);
        Assert.Equal(driver.Now, decision.State.LastActivityAt);
        Assert.Equal(SessionStatus.Running, decision.State.VisibleStatus);
        Assert.Equal(2, decision.SingleStartedStep().TaskNumber);
        Assert.Null(decision.State.Reason);
    }

    [Fact]
    public void GivenExpired_WhenRejectedCommand_ThenStillDormant()
    {
        var driver = SessionDriver.ErrorFromExpiry();

        var decision = driver.Pause();

        Assert.IsType<RejectedOutcome>(decision.Outcome);
        Assert.True(decision.State.Dormant);
    }

    [Fact]
    public void GivenExpiredThenUsedAgain_WhenExpiredAgain_ThenItExpiresAgain()
    {
        var driver = SessionDriver.ErrorFromExpiry();
        driver.Message("wake up");

        var decision = driver.Expire();

        Assert.IsType<AcceptedOutcome>(decision.Outcome);
        Assert.True(decision.State.Dormant);
        Assert.Equal(SessionStatus.Error, decision.State.VisibleStatus);
        Assert.Equal("expired", Assert.Single(decision.Messages()).MetadataValue("reason"));
    }

    [Fact]
    public void GivenPausedWithHeldMessage_WhenExpired_ThenHeldMessageIsNotDeliveredLater()
    {
        var driver = SessionDriver.PausedFromWaiting();
        driver.Message("held");
        driver.Expire();

        var next = driver.Message("fresh");

        var step = next.SingleStartedStep();
        Assert.Equal("fresh", step.Task);
        Assert.Empty(step.NewUserMessages);
    }
}

public class DeleteTests
{
    [Theory]
    [InlineData("ready")]
    [InlineData("running")]
    [InlineData("paused(running)")]
    [InlineData("finished(done)")]
    [InlineData("error(expired)")]
    public void GivenAnyStatus_WhenDeleted_ThenEndSessionIsTheOnlyEffect(string start)
    {
        var driver = SessionDriver.Build(start);

        var decision = driver.Delete();

        Assert.IsType<AcceptedOutcome>(decision.Outcome);
        Assert.IsType<EndSession>(Assert.Single(decision.Effects));
        Assert.True(decision.State.Deleted);
        Assert.Null(decision.State.Task);
        Assert.Empty(decision.State.Held);
    }

    [Fact]
    public void GivenDeletedWhileStepInFlight_WhenLateOutputOrExpiryArrives_ThenIgnored()
    {
        var driver = SessionDriver.Running();
        var (task, step) = driver.InFlight;
        driver.Delete();
        var before = driver.State;

        var late = driver.Apply(SessionDriver.Step(task, step, AgentStepStatus.Running));
        var expired = driver.Expire();

        Assert.IsType<IgnoredOutcome>(late.Outcome);
        late.AssertNoChange(before);
        Assert.IsType<IgnoredOutcome>(expired.Outcome);
        expired.AssertNoChange(before);
    }
}
