using System.Text.Json;
using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;

namespace AgentSessions.Core.Tests;

public class StepTests
{
    [Fact]
    public void GivenStepInFlight_WhenCompletedWithMessages_ThenTheyAreAppendedInOrderWithConsecutiveIds()
    {
        var driver = SessionDriver.Running();
        var lastId = driver.State.LastMessageId;
        var metadata = JsonSerializer.SerializeToElement(new Dictionary<string, string> { ["url"] = "https://example.com/" });
        var objectContent = JsonSerializer.SerializeToElement(new Dictionary<string, int> { ["clicks"] = 3 });

        var decision = driver.Complete(
            AgentStepStatus.Running,
            new AgentMessage(MessageTypes.Thought, JsonSerializer.SerializeToElement("first"), metadata),
            new AgentMessage(MessageTypes.Log, objectContent));

        var messages = decision.Messages();
        Assert.Equal([lastId + 1, lastId + 2], messages.Select(m => m.Id));
        Assert.Equal([MessageTypes.Thought, MessageTypes.Log], messages.Select(m => m.Type));
        Assert.Equal("first", messages[0].Text());
        Assert.Equal("https://example.com/", messages[0].MetadataValue("url"));
        Assert.Equal(3, messages[1].Content.GetProperty("clicks").GetInt32());
        Assert.Equal(JsonValueKind.Object, messages[1].Metadata.ValueKind);
        Assert.All(messages, m => Assert.Equal(driver.Now, m.Timestamp));
        Assert.Equal(lastId + 2, decision.State.LastMessageId);
        Assert.IsType<AppendMessages>(decision.Effects[0]);
        Assert.IsType<StartStep>(decision.Effects[1]);
    }

    [Fact]
    public void GivenStepInFlight_WhenCompletedRunning_ThenNextStepOfSameTaskStarts()
    {
        var driver = SessionDriver.Running();

        var decision = driver.Complete(AgentStepStatus.Running);

        var step = decision.SingleStartedStep();
        Assert.Equal(1, step.TaskNumber);
        Assert.Equal(2, step.StepNumber);
        Assert.Equal(2, decision.State.Task?.StepInFlight);
        Assert.Equal(2, decision.State.Task?.StepsStarted);
        Assert.Equal(SessionStatus.Running, decision.State.VisibleStatus);
    }

    [Fact]
    public void GivenStepInFlight_WhenAgentAsksQuestion_ThenWaitingForInputAndNoStepStarts()
    {
        var driver = SessionDriver.Running();

        var decision = driver.Complete(AgentStepStatus.WaitingForInput, SessionDriver.Question("Which account?"));

        Assert.Equal(SessionStatus.WaitingForInput, decision.State.VisibleStatus);
        Assert.Equal([MessageTypes.Question], decision.Types());
        Assert.Empty(decision.StartedSteps());
        Assert.Null(decision.State.Task?.StepInFlight);
        Assert.NotNull(decision.State.Task);
    }

    [Fact]
    public void GivenStepInFlight_WhenFinishedWithDone_ThenNoExtraDoneAndTaskEnds()
    {
        var driver = SessionDriver.Running();

        var decision = driver.Complete(AgentStepStatus.Finished, SessionDriver.Thought("wrapping up"), SessionDriver.Done("booked"));

        Assert.Equal([MessageTypes.Thought, MessageTypes.Done], decision.Types());
        Assert.Equal(SessionStatus.Finished, decision.State.VisibleStatus);
        Assert.Null(decision.State.Task);
        Assert.Null(decision.State.Reason);
        Assert.Empty(decision.StartedSteps());
    }

    [Fact]
    public void GivenStepInFlight_WhenFinishedWithoutDone_ThenDoneIsAppendedLast()
    {
        var driver = SessionDriver.Running();
        var lastId = driver.State.LastMessageId;

        var decision = driver.Complete(AgentStepStatus.Finished, SessionDriver.Thought("wrapping up"));

        Assert.Equal([MessageTypes.Thought, MessageTypes.Done], decision.Types());
        Assert.Equal(lastId + 2, decision.Messages()[^1].Id);
        Assert.Equal(SessionStatus.Finished, decision.State.VisibleStatus);
    }

    [Fact]
    public void GivenStepInFlight_WhenAgentReportsErrorWithoutErrorMessage_ThenErrorMessageIsAppended()
    {
        var driver = SessionDriver.Running();

        var decision = driver.Complete(AgentStepStatus.Error, SessionDriver.Thought("hmm"));

        Assert.Equal([MessageTypes.Thought, MessageTypes.Error], decision.Types());
        Assert.Equal(SessionStatus.Error, decision.State.VisibleStatus);
        Assert.NotNull(decision.State.Reason);
        Assert.Null(decision.State.Task);
        Assert.Empty(decision.StartedSteps());
    }

    [Fact]
    public void GivenStepInFlight_WhenAgentReportsErrorWithErrorMessage_ThenNoSecondErrorMessage()
    {
        var driver = SessionDriver.Running();

        var decision = driver.Complete(AgentStepStatus.Error, SessionDriver.Error("page crashed"));

        Assert.Equal([MessageTypes.Error], decision.Types());
        Assert.Equal("page crashed", decision.Messages()[0].Text());
        Assert.Equal(SessionStatus.Error, decision.State.VisibleStatus);
    }

    [Fact]
    public void GivenStepInFlight_WhenStepFails_ThenErrorMessageAndErrorStatus()
    {
        var driver = SessionDriver.Running();
        var lastId = driver.State.LastMessageId;

        var decision = driver.Fail("connection refused");

        Assert.IsType<AcceptedOutcome>(decision.Outcome);
        var error = Assert.Single(decision.Messages());
        Assert.Equal(MessageTypes.Error, error.Type);
        Assert.Equal(lastId + 1, error.Id);
        Assert.Contains("connection refused", error.Text(), StringComparison.Ordinal);
        Assert.Equal("agent_failed", error.MetadataValue("reason"));
        Assert.Equal(SessionStatus.Error, decision.State.VisibleStatus);
        Assert.Null(decision.State.Task);
        Assert.Empty(decision.StartedSteps());
    }

    [Fact]
    public void GivenMaxStepsTwo_WhenStepsKeepRunning_ThenAfterStepTwoTheTaskEndsInError()
    {
        var driver = SessionDriver.Running(maxSteps: 2);

        var afterStep1 = driver.Complete(AgentStepStatus.Running, SessionDriver.Thought("one"));
        var afterStep2 = driver.Complete(AgentStepStatus.Running, SessionDriver.Thought("two"));

        Assert.Equal(2, afterStep1.SingleStartedStep().StepNumber);
        Assert.Equal(SessionStatus.Error, afterStep2.State.VisibleStatus);
        Assert.Equal(SessionDecider.MaxStepsReached, afterStep2.State.Reason);
        Assert.Null(afterStep2.State.Task);
        Assert.Empty(afterStep2.StartedSteps());
        Assert.Equal([MessageTypes.Thought, MessageTypes.Error], afterStep2.Types());
        var error = afterStep2.Messages()[^1];
        Assert.Equal("max_steps", error.MetadataValue("reason"));
        Assert.Equal(afterStep2.State.LastMessageId, error.Id);
        Assert.Equal(2, driver.Decisions.Sum(d => d.StartedSteps().Count));
        Assert.All(driver.Decisions.SelectMany(d => d.StartedSteps()), s => Assert.Equal(2, s.MaxSteps));
    }

    [Fact]
    public void GivenMaxStepsTwo_WhenQuestionAnsweredInBetween_ThenStepsAcrossAnswersCountTowardsTheLimit()
    {
        var driver = SessionDriver.Running(maxSteps: 2);
        driver.Complete(AgentStepStatus.WaitingForInput, SessionDriver.Question("Which?"));

        var answered = driver.Message("that one");
        var afterStep2 = driver.Complete(AgentStepStatus.Running);

        Assert.Equal(2, answered.SingleStartedStep().StepNumber);
        Assert.Equal(SessionStatus.Error, afterStep2.State.VisibleStatus);
        Assert.Equal(SessionDecider.MaxStepsReached, afterStep2.State.Reason);
    }

    [Fact]
    public void GivenMaxStepsHit_WhenNewMessage_ThenNewTaskGetsAFreshStepBudget()
    {
        var driver = SessionDriver.ErrorFromMaxSteps();

        var decision = driver.Message("try a shorter route");
        var next = driver.Complete(AgentStepStatus.Finished);

        Assert.Equal(1, decision.SingleStartedStep().StepNumber);
        Assert.Equal(SessionStatus.Finished, next.State.VisibleStatus);
    }

    [Fact]
    public void GivenStepCompleted_WhenSameCompletionArrivesAgain_ThenIgnoredSoItIsNotAppliedTwice()
    {
        var driver = SessionDriver.Running();
        var (task, step) = driver.InFlight;
        var completion = SessionDriver.Step(task, step, AgentStepStatus.Running, SessionDriver.Thought("once"));
        driver.Apply(completion);
        var before = driver.State;

        var duplicate = driver.Apply(completion);

        Assert.IsType<IgnoredOutcome>(duplicate.Outcome);
        duplicate.AssertNoChange(before);
    }

    [Theory]
    [InlineData(1, 2)]
    [InlineData(1, 0)]
    [InlineData(2, 1)]
    [InlineData(0, 1)]
    public void GivenStepOneOfTaskOneInFlight_WhenOtherStepReports_ThenIgnored(int task, int step)
    {
        var driver = SessionDriver.Running();
        var before = driver.State;

        var completed = SessionDecider.Decide(before, SessionDriver.Step(task, step, AgentStepStatus.Finished), driver.Now);
        var failed = SessionDecider.Decide(before, new FailStep(task, step, "x"), driver.Now);

        Assert.IsType<IgnoredOutcome>(completed.Outcome);
        completed.AssertNoChange(before);
        Assert.IsType<IgnoredOutcome>(failed.Outcome);
        failed.AssertNoChange(before);
    }

    [Fact]
    public void GivenWaitingForInput_WhenCompletionForTheAnsweredStepArrivesAgain_ThenIgnored()
    {
        var driver = SessionDriver.WaitingForInput();
        var before = driver.State;

        var decision = driver.Apply(SessionDriver.Step(1, 1, AgentStepStatus.Running));

        Assert.IsType<IgnoredOutcome>(decision.Outcome);
        decision.AssertNoChange(before);
    }

    [Fact]
    public void GivenReadySession_WhenStepReports_ThenIgnored()
    {
        var driver = SessionDriver.Ready();
        var before = driver.State;

        var decision = driver.Apply(SessionDriver.Step(1, 1, AgentStepStatus.Running));

        Assert.IsType<IgnoredOutcome>(decision.Outcome);
        decision.AssertNoChange(before);
    }

    [Fact]
    public void GivenAcceptedStep_WhenDecided_ThenLastActivityMovesToNow()
    {
        var driver = SessionDriver.Running();
        var before = driver.State.LastActivityAt;

        var decision = driver.Complete(AgentStepStatus.Running);

        Assert.True(decision.State.LastActivityAt > before);
        Assert.Equal(driver.Now, decision.State.LastActivityAt);
    }

    [Fact]
    public void GivenStepReturnsAgentState_WhenNextStepOfSameTaskStarts_ThenItGetsThatStateButANewTaskDoesNot()
    {
        var driver = SessionDriver.Running();
        var (task, step) = driver.InFlight;

        var next = driver.Apply(new CompleteStep(task, step, new AgentStepResult(AgentStepStatus.Running, [], State: "cursor=2")));
        driver.Cancel();
        var fresh = driver.Message("new task");

        Assert.Equal("cursor=2", next.SingleStartedStep().AgentState);
        Assert.Null(fresh.SingleStartedStep().AgentState);
    }
}
