using System.Text.Json;
using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;

namespace AgentSessions.Core.Tests;

public class MessageTests
{
    [Fact]
    public void GivenReadySession_WhenMessage_ThenTaskOneStartsWithUserMessageThenStepOne()
    {
        var driver = SessionDriver.Ready(maxSteps: 7);

        var decision = driver.Message("open example.com", "https://example.com/");

        Assert.IsType<AcceptedOutcome>(decision.Outcome);
        Assert.Collection(
            decision.Effects,
            effect =>
            {
                var append = Assert.IsType<AppendMessages>(effect);
                var user = Assert.Single(append.Messages);
                Assert.Equal(1, user.Id);
                Assert.Equal(MessageTypes.User, user.Type);
                Assert.Equal("open example.com", user.Text());
                Assert.Equal(driver.Now, user.Timestamp);
                Assert.Equal(JsonValueKind.Object, user.Metadata.ValueKind);
            },
            effect =>
            {
                var request = Assert.IsType<StartStep>(effect).Request;
                Assert.Equal(SessionDriver.SessionId, request.SessionId);
                Assert.Equal(SessionDriver.AgentName, request.AgentName);
                Assert.Equal(1, request.TaskNumber);
                Assert.Equal(1, request.StepNumber);
                Assert.Equal(7, request.MaxSteps);
                Assert.Equal("open example.com", request.Task);
                Assert.Equal("https://example.com/", request.StartUrl);
                Assert.Empty(request.NewUserMessages);
            });
        Assert.Equal(SessionStatus.Running, decision.State.VisibleStatus);
        Assert.Equal(1, decision.State.TaskCount);
        Assert.Equal(1, decision.State.Task?.StepInFlight);
        Assert.Equal(1, decision.State.LastMessageId);
        Assert.Equal(driver.Now, decision.State.LastActivityAt);
    }

    [Fact]
    public void GivenRunningSession_WhenMessage_ThenRecordedAndQueuedButNoStepStarts()
    {
        var driver = SessionDriver.Running();
        var lastId = driver.State.LastMessageId;

        var decision = driver.Message("also check prices");

        Assert.IsType<AcceptedOutcome>(decision.Outcome);
        var user = Assert.Single(Assert.IsType<AppendMessages>(Assert.Single(decision.Effects)).Messages);
        Assert.Equal(MessageTypes.User, user.Type);
        Assert.Equal(lastId + 1, user.Id);
        Assert.Equal(SessionStatus.Running, decision.State.VisibleStatus);
        Assert.Equal(1, decision.State.Task?.StepInFlight);
        Assert.Equal(["also check prices"], decision.State.Task?.UnreadInput);
    }

    [Fact]
    public void GivenMessagesQueuedWhileStepRuns_WhenStepCompletes_ThenNextStepGetsThemInOrderAndOnlyOnce()
    {
        var driver = SessionDriver.Running();
        var first = driver.Decisions[^1].SingleStartedStep();
        driver.Message("also check prices");
        driver.Message("and sort by date");

        var second = driver.Complete(AgentStepStatus.Running, SessionDriver.Thought("looking")).SingleStartedStep();
        var third = driver.Complete(AgentStepStatus.Running).SingleStartedStep();

        Assert.Empty(first.NewUserMessages);
        Assert.Equal(2, second.StepNumber);
        Assert.Equal(1, second.TaskNumber);
        Assert.Equal(["also check prices", "and sort by date"], second.NewUserMessages);
        Assert.Equal("open example.com", second.Task);
        Assert.Equal(3, third.StepNumber);
        Assert.Empty(third.NewUserMessages);
    }

    [Fact]
    public void GivenWaitingForInput_WhenMessage_ThenItAnswersTheQuestionAndTheSameTaskContinues()
    {
        var driver = SessionDriver.WaitingForInput();
        var lastId = driver.State.LastMessageId;

        var decision = driver.Message("the work account");

        Assert.Equal(SessionStatus.Running, decision.State.VisibleStatus);
        Assert.Equal([MessageTypes.User], decision.Types());
        Assert.Equal(lastId + 1, decision.Messages()[0].Id);
        var step = decision.SingleStartedStep();
        Assert.Equal(1, step.TaskNumber);
        Assert.Equal(2, step.StepNumber);
        Assert.Equal("open example.com", step.Task);
        Assert.Equal(["the work account"], step.NewUserMessages);
        Assert.Equal(1, decision.State.TaskCount);
        Assert.IsType<AppendMessages>(decision.Effects[0]);
        Assert.IsType<StartStep>(decision.Effects[1]);
    }

    [Fact]
    public void GivenMessageQueuedWhileStepRuns_WhenStepAsksQuestion_ThenQueuedMessageAnswersItAndNextStepStarts()
    {
        var driver = SessionDriver.Running();
        driver.Message("use the work account");

        var decision = driver.Complete(AgentStepStatus.WaitingForInput, SessionDriver.Question("Which account?"));

        Assert.Equal(SessionStatus.Running, decision.State.VisibleStatus);
        Assert.Equal([MessageTypes.Question], decision.Types());
        var step = decision.SingleStartedStep();
        Assert.Equal(2, step.StepNumber);
        Assert.Equal(["use the work account"], step.NewUserMessages);
    }

    [Fact]
    public void GivenFinishedSession_WhenMessage_ThenSecondTaskStartsFromStepOne()
    {
        var driver = SessionDriver.FinishedDone();

        var decision = driver.Message("now do something else");

        Assert.Equal(SessionStatus.Running, decision.State.VisibleStatus);
        var step = decision.SingleStartedStep();
        Assert.Equal(2, step.TaskNumber);
        Assert.Equal(1, step.StepNumber);
        Assert.Equal("now do something else", step.Task);
        Assert.Equal(1, decision.State.Task?.StepsStarted);
    }

    [Fact]
    public void GivenErrorSession_WhenMessage_ThenReasonIsClearedAndNewTaskRuns()
    {
        var driver = SessionDriver.ErrorFromFailedStep();
        Assert.NotNull(driver.State.Reason);

        var decision = driver.Message("try again");

        Assert.Null(decision.State.Reason);
        Assert.Equal(SessionStatus.Running, decision.State.VisibleStatus);
        Assert.Equal(2, decision.SingleStartedStep().TaskNumber);
    }

    /// <summary>
    /// Contract: while running, a message is "queued as user input for the next step"; and "none is lost".
    /// When the in-flight step then ends the task, there is no next step of that task, so the queued
    /// message must still reach the agent (as a new task, exactly as a message held during a pause does
    /// on resume — see PauseResumeTests). The decider drops it: the task ends and UnreadInput vanishes.
    /// </summary>
    [Fact]
    public void GivenMessageQueuedWhileStepRuns_WhenStepFinishesTask_ThenTheMessageIsNotLost()
    {
        var driver = SessionDriver.Running();
        driver.Message("then email me the result");

        var decision = driver.Complete(AgentStepStatus.Finished, SessionDriver.Done("opened"));

        var step = Assert.Single(decision.StartedSteps());
        Assert.Contains("then email me the result", step.NewUserMessages.Prepend(step.Task));
        Assert.Equal(SessionStatus.Running, decision.State.VisibleStatus);
    }
}

public sealed class NavigateTests
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GivenAnySession_WhenNavigated_ThenUrlRecordedAsLogWithoutChangingStatus(bool paused)
    {
        var now = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        var state = SessionDecider.Decide(SessionState.New("s", "agi-0", 10, null, now), new SendMessage("task"), now).State;
        if (paused)
        {
            state = SessionDecider.Decide(state, new PauseSession(), now).State;
        }

        var decision = SessionDecider.Decide(state, new NavigateTo("https://example.com/a"), now);

        Assert.IsType<AcceptedOutcome>(decision.Outcome);
        Assert.Equal("https://example.com/a", decision.State.CurrentUrl);
        Assert.Equal(state.VisibleStatus, decision.State.VisibleStatus);
        var log = Assert.Single(Assert.IsType<AppendMessages>(decision.Effects[0]).Messages);
        Assert.Equal(MessageTypes.Log, log.Type);
        Assert.Equal("navigate", log.Metadata.GetProperty("event").GetString());
        Assert.DoesNotContain(decision.Effects, e => e is StartStep);
    }
}
