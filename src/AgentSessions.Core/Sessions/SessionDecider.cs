using System.Collections.Immutable;
using System.Text.Json;
using AgentSessions.Core.Agents;

namespace AgentSessions.Core.Sessions;

/// <summary>
/// The session's rules: state + command + time → new state, outcome and effects. Pure, so the
/// orchestration can replay it and the contract's state table can be tested cell by cell.
/// </summary>
public static class SessionDecider
{
    public const string MaxStepsReached = "max steps reached";

    public static SessionDecision Decide(SessionState state, SessionCommand command, DateTimeOffset now)
    {
        var draft = new Draft(state, now);
        var outcome = command switch
        {
            SendMessage message => OnMessage(draft, message),
            PauseSession => OnPause(draft),
            ResumeSession => OnResume(draft),
            CancelTask => OnCancel(draft),
            ExpireSession expire => OnExpire(draft, expire),
            CompleteStep step => OnStepCompleted(draft, step),
            FailStep failure => OnStepFailed(draft, failure),
            DeleteSession => OnDelete(draft),
            NavigateTo navigate => OnNavigate(draft, navigate),
            RecoverSession recover => OnRecover(draft, recover),
            _ => throw new ArgumentOutOfRangeException(nameof(command), command, "unknown command"),
        };

        // Expiry is the one accepted command that is not activity: the session goes dormant.
        if (outcome is AcceptedOutcome && command is not ExpireSession)
        {
            draft.State = draft.State with { LastActivityAt = now, Dormant = false };
            ScheduleNextStep(draft);
        }

        return draft.ToDecision(outcome);
    }

    private static CommandOutcome OnMessage(Draft draft, SendMessage message)
    {
        draft.Append(MessageTypes.User, JsonSerializer.SerializeToElement(message.Text));
        var user = new UserMessage(message.Text, message.StartUrl);
        if (draft.State.Paused)
        {
            draft.State = draft.State with { Held = draft.State.Held.Add(user) };
        }
        else
        {
            Deliver(draft, user);
        }

        return CommandOutcome.Accepted;
    }

    private static void Deliver(Draft draft, UserMessage message)
    {
        var state = draft.State;
        switch (state.Status)
        {
            case SessionStatus.Running when state.Task is not null:
                draft.State = state with { Task = state.Task with { UnreadInput = state.Task.UnreadInput.Add(message.Text) } };
                break;
            case SessionStatus.WaitingForInput when state.Task is not null:
                draft.State = state with
                {
                    Status = SessionStatus.Running,
                    Task = state.Task with { UnreadInput = state.Task.UnreadInput.Add(message.Text) },
                };
                break;
            default:
                var number = state.TaskCount + 1;
                draft.State = state with
                {
                    Status = SessionStatus.Running,
                    Reason = null,
                    TaskCount = number,
                    Task = new SessionTask(number, message.Text, message.StartUrl, StepsStarted: 0, StepInFlight: null,
                        UnreadInput: ImmutableList<string>.Empty),
                };
                break;
        }
    }

    private static CommandOutcome OnPause(Draft draft)
    {
        var state = draft.State;
        if (state.Paused)
        {
            return Reject(RejectionCodes.AlreadyPaused, state, cancel: false);
        }

        if (state.Status is not (SessionStatus.Running or SessionStatus.WaitingForInput))
        {
            return Reject(RejectionCodes.NotRunning, state, cancel: false);
        }

        draft.State = state with { Paused = true };
        return CommandOutcome.Accepted;
    }

    private static CommandOutcome OnResume(Draft draft)
    {
        var state = draft.State;
        if (!state.Paused)
        {
            return Reject(RejectionCodes.NotPaused, state, cancel: false);
        }

        draft.State = state with { Paused = false, Held = ImmutableList<UserMessage>.Empty };
        foreach (var held in state.Held)
        {
            Deliver(draft, held);
        }

        return CommandOutcome.Accepted;
    }

    private static CommandOutcome OnCancel(Draft draft)
    {
        var state = draft.State;
        if (!state.Paused && state.Status is not (SessionStatus.Running or SessionStatus.WaitingForInput))
        {
            return Reject(RejectionCodes.NotRunning, state, cancel: true);
        }

        // Messages held during a pause belonged to the task being abandoned; they stay in the
        // transcript but must not start a new task behind the user's back.
        draft.State = state with
        {
            Status = SessionStatus.Finished,
            Paused = false,
            Task = null,
            Held = ImmutableList<UserMessage>.Empty,
            Reason = "cancelled",
        };
        draft.Append(MessageTypes.Log, JsonSerializer.SerializeToElement("Task cancelled by user"), Metadata("reason", "cancelled"));
        return CommandOutcome.Accepted;
    }

    private static CommandOutcome OnExpire(Draft draft, ExpireSession expire)
    {
        if (draft.State.Dormant || draft.State.Deleted)
        {
            return CommandOutcome.Ignored;
        }

        var reason = $"Session expired after {Describe(expire.IdleFor)} without activity";
        draft.State = draft.State with
        {
            Status = SessionStatus.Error,
            Paused = false,
            Task = null,
            Held = ImmutableList<UserMessage>.Empty,
            Reason = reason,
        };
        draft.Append(MessageTypes.Error, JsonSerializer.SerializeToElement(reason), Metadata("reason", "expired"));
        draft.State = draft.State with { Dormant = true };
        return CommandOutcome.Accepted;
    }

    private static CommandOutcome OnStepCompleted(Draft draft, CompleteStep step)
    {
        if (!IsCurrentStep(draft.State, step.TaskNumber, step.StepNumber))
        {
            return CommandOutcome.Ignored;
        }

        var task = draft.State.Task! with { StepInFlight = null, AgentState = step.Result.State };
        draft.State = draft.State with { Task = task };

        foreach (var message in step.Result.Messages)
        {
            draft.Append(message.Type, message.Content, WithStep(message.Metadata, task.Number, step.StepNumber));
        }

        switch (step.Result.Status)
        {
            case AgentStepStatus.Running:
                break;
            case AgentStepStatus.WaitingForInput:
                // Input that arrived while the step ran already answers the question.
                if (task.UnreadInput.IsEmpty)
                {
                    draft.State = draft.State with { Status = SessionStatus.WaitingForInput };
                }

                break;
            case AgentStepStatus.Finished:
                if (!step.Result.Messages.Any(m => m.Type == MessageTypes.Done))
                {
                    draft.Append(MessageTypes.Done, JsonSerializer.SerializeToElement(new Dictionary<string, object>
                    {
                        ["summary"] = "Task finished",
                        ["steps"] = task.StepsStarted,
                    }));
                }

                EndTask(draft, SessionStatus.Finished, reason: null);
                break;
            case AgentStepStatus.Error:
                if (!step.Result.Messages.Any(m => m.Type == MessageTypes.Error))
                {
                    draft.Append(MessageTypes.Error, JsonSerializer.SerializeToElement("The agent reported an error"));
                }

                EndTask(draft, SessionStatus.Error, reason: "agent reported an error");
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(step), step.Result.Status, "unknown agent status");
        }

        return CommandOutcome.Accepted;
    }

    private static CommandOutcome OnStepFailed(Draft draft, FailStep failure)
    {
        if (!IsCurrentStep(draft.State, failure.TaskNumber, failure.StepNumber))
        {
            return CommandOutcome.Ignored;
        }

        var text = $"Agent step {failure.StepNumber} failed: {failure.Error}";
        draft.Append(MessageTypes.Error, JsonSerializer.SerializeToElement(text), Metadata("reason", "agent_failed"));
        EndTask(draft, SessionStatus.Error, text);
        return CommandOutcome.Accepted;
    }

    private static CommandOutcome OnDelete(Draft draft)
    {
        draft.State = draft.State with { Deleted = true, Task = null, Held = ImmutableList<UserMessage>.Empty };
        draft.Effects.Add(new EndSession());
        return CommandOutcome.Accepted;
    }

    private static RejectedOutcome Reject(string code, SessionState state, bool cancel) =>
        new(code, RejectionCodes.Explain(code, state.VisibleStatus.ToWire(), cancel));

    private static CommandOutcome OnNavigate(Draft draft, NavigateTo navigate)
    {
        // Where an agent says its browser ended up can be longer than any URL a user may send; such a page is logged
        // but not remembered, so the state stays small.
        draft.State = draft.State with { CurrentUrl = navigate.Url.Length <= SessionState.MaxUrlLength ? navigate.Url : null };
        draft.Append(MessageTypes.Log, JsonSerializer.SerializeToElement($"Navigated to {navigate.Url}"),
            JsonSerializer.SerializeToElement(new Dictionary<string, string> { ["event"] = "navigate", ["url"] = navigate.Url }));
        return CommandOutcome.Accepted;
    }

    private static CommandOutcome OnRecover(Draft draft, RecoverSession recover)
    {
        if (draft.State.Deleted)
        {
            return CommandOutcome.Ignored;
        }

        var text = $"The session stopped unexpectedly and was restarted; the task in progress was lost. ({recover.Reason})";
        draft.State = draft.State with
        {
            Status = SessionStatus.Error,
            Paused = false,
            Task = null,
            Held = ImmutableList<UserMessage>.Empty,
            Reason = Shorten(recover.Reason),
        };
        draft.Append(MessageTypes.Error, JsonSerializer.SerializeToElement(text), Metadata("reason", "session_failed"));
        return CommandOutcome.Accepted;
    }

    private static bool IsCurrentStep(SessionState state, int taskNumber, int stepNumber) =>
        state.Task is { } task && task.Number == taskNumber && task.StepInFlight == stepNumber;

    /// <summary>
    /// Ends the task. Input the user sent for a next step that will now never come starts the
    /// next task instead, the same way messages held during a pause are delivered on resume.
    /// </summary>
    private static void EndTask(Draft draft, SessionStatus status, string? reason)
    {
        var unread = draft.State.Task?.UnreadInput ?? ImmutableList<string>.Empty;
        draft.State = draft.State with { Status = status, Task = null, Reason = Shorten(reason) };
        foreach (var text in unread)
        {
            Deliver(draft, new UserMessage(text, StartUrl: null));
        }
    }

    /// <summary>Starts the next step when the session is running, not paused and no step is in flight.</summary>
    private static void ScheduleNextStep(Draft draft)
    {
        var state = draft.State;
        if (state.Paused || state.Deleted || state.Status != SessionStatus.Running || state.Task is not { StepInFlight: null } task)
        {
            return;
        }

        if (task.StepsStarted >= state.MaxSteps)
        {
            draft.Append(MessageTypes.Error, JsonSerializer.SerializeToElement($"Task stopped: {MaxStepsReached} ({state.MaxSteps})"),
                Metadata("reason", "max_steps"));
            EndTask(draft, SessionStatus.Error, MaxStepsReached);
            ScheduleNextStep(draft);
            return;
        }

        var step = task.StepsStarted + 1;
        draft.State = state with
        {
            Task = task with { StepsStarted = step, StepInFlight = step, UnreadInput = ImmutableList<string>.Empty },
        };
        draft.Effects.Add(new StartStep(new StepRequest(
            state.SessionId, state.AgentName, task.Number, step, state.MaxSteps, task.Text, task.StartUrl, task.UnreadInput,
            task.AgentState)));
    }

    /// <summary>Agent messages carry the task and step they came from, so streams can mark step boundaries.</summary>
    private static JsonElement WithStep(JsonElement? metadata, int taskNumber, int stepNumber)
    {
        var fields = new Dictionary<string, JsonElement>();
        if (metadata is { ValueKind: JsonValueKind.Object } agentMetadata)
        {
            foreach (var property in agentMetadata.EnumerateObject())
            {
                fields[property.Name] = property.Value;
            }
        }

        fields["task"] = JsonSerializer.SerializeToElement(taskNumber);
        fields["step"] = JsonSerializer.SerializeToElement(stepNumber);
        return JsonSerializer.SerializeToElement(fields);
    }

    /// <summary>Reasons can be as long as an agent's error text; the state keeps the start of it.</summary>
    private static string? Shorten(string? reason)
    {
        if (reason is not { Length: > SessionState.MaxReasonLength })
        {
            return reason;
        }

        // Never cut a surrogate pair in half.
        var cut = SessionState.MaxReasonLength - 1;
        if (char.IsHighSurrogate(reason[cut - 1]))
        {
            cut--;
        }

        return reason[..cut] + "…";
    }

    private static JsonElement Metadata(string key, string value) =>
        JsonSerializer.SerializeToElement(new Dictionary<string, string> { [key] = value });

    private static string Describe(TimeSpan span) =>
        span.TotalHours >= 1 && span.TotalHours == Math.Floor(span.TotalHours) ? $"{span.TotalHours:0}h"
        : span.TotalMinutes >= 1 && span.TotalMinutes == Math.Floor(span.TotalMinutes) ? $"{span.TotalMinutes:0}m"
        : $"{span.TotalSeconds:0.###}s";

    private sealed class Draft(SessionState state, DateTimeOffset now)
    {
        private static readonly JsonElement EmptyObject = JsonSerializer.SerializeToElement(new Dictionary<string, string>());
        private readonly List<SessionMessage> messages = [];

        public SessionState State { get; set; } = state;

        public List<SessionEffect> Effects { get; } = [];

        public void Append(string type, JsonElement content, JsonElement? metadata = null)
        {
            var id = State.LastMessageId + 1;
            State = State with { LastMessageId = id };
            messages.Add(new SessionMessage(id, type, content, now, metadata is { ValueKind: JsonValueKind.Object } m ? m : EmptyObject));
        }

        public SessionDecision ToDecision(CommandOutcome outcome)
        {
            var effects = ImmutableList.CreateBuilder<SessionEffect>();
            if (messages.Count > 0)
            {
                effects.Add(new AppendMessages([.. messages]));
            }

            effects.AddRange(Effects);
            return new SessionDecision(State, outcome, effects.ToImmutable());
        }
    }
}
