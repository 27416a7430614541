using System.Collections.Immutable;
using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Webhooks;
using Microsoft.DurableTask;

namespace AgentSessions.Functions.Sessions;

/// <summary>
/// One session, one orchestration: a deterministic shell that feeds commands, step results and
/// the idle timer into <see cref="SessionDecider"/> and carries out the effects it returns.
/// </summary>
public static class SessionOrchestration
{
    public const string Name = "SessionOrchestration";
    public const string CommandEvent = "command";

    /// <summary>More than any burst the API could deliver between two episodes.</summary>
    private const int MaxDrainedCommands = 100_000;

    private static readonly TaskOptions StoreRetry = TaskOptions.FromRetryPolicy(new RetryPolicy(
        maxNumberOfAttempts: 6, firstRetryInterval: TimeSpan.FromMilliseconds(500), backoffCoefficient: 2,
        maxRetryInterval: TimeSpan.FromSeconds(15)));

    public static async Task<SessionView> RunAsync(TaskOrchestrationContext context, SessionInput input)
    {
        var loop = new Loop(context, input);
        return await loop.RunAsync();
    }

    private sealed class Loop(TaskOrchestrationContext context, SessionInput input)
    {
        private readonly Queue<CommandEnvelope> pending = new(input.Pending);
        private readonly Dictionary<Task<StepOutcome>, StepRequest> steps = [];
        private readonly CancellationTokenSource timerCancellation = new();
        private SessionState state = input.State;
        private ImmutableList<CommandResult> results = input.Results;
        private CommandCounts counts = input.Counts ?? CommandCounts.Zero;

        // Kept across iterations on purpose: a waiter that loses a WhenAny and is then dropped would
        // still receive (and swallow) the next event, so there is only ever one, reused until it fires.
        private Task<CommandEnvelope>? commandWait;
        private Task? idleTimer;
        private int applied;

        public async Task<SessionView> RunAsync()
        {
            // With commands queued (a create's goal, or commands carried over ContinueAsNew) the
            // first publish waits until they are applied: publishing the input's state first would
            // show a status the session has already left, e.g. "ready" for a session with a goal.
            // Until then readers predict the view from the input with the same rules.
            if (pending.Count == 0)
            {
                Publish();
            }

            if (input.Generation == 0)
            {
                Notify([SessionNotices.ForCreated(state)]);
            }

            while (true)
            {
                var (command, commandId) = await NextAsync();
                if (command is null)
                {
                    continue;
                }

                var before = state;
                var decision = SessionDecider.Decide(state, command, context.CurrentUtcDateTime);
                state = decision.State;
                if (commandId is not null)
                {
                    Record(commandId, decision.Outcome);
                }

                // Messages are stored before the status that refers to them is published, so a
                // client that sees "finished" can always read the DONE message.
                foreach (var append in decision.Effects.OfType<AppendMessages>())
                {
                    await context.CallActivityAsync(AppendMessagesActivity.Name,
                        new AppendMessagesInput(context.InstanceId, append.Messages), StoreRetry);
                }

                Publish();
                Notify(SessionNotices.Between(before, decision));

                foreach (var effect in decision.Effects)
                {
                    switch (effect)
                    {
                        case StartStep start:
                            steps.Add(RunStepAsync(start.Request), start.Request);
                            break;
                        case EndSession:
                            timerCancellation.Cancel();
                            return SessionView.From(state, results, counts);
                    }
                }

                applied++;
                if (applied >= input.Settings.CommandsPerGeneration && steps.Count == 0)
                {
                    timerCancellation.Cancel();
                    context.ContinueAsNew(NextGeneration(), preserveUnprocessedEvents: true);
                    return SessionView.From(state, results, counts);
                }
            }
        }

        private async Task<(SessionCommand? Command, string? CommandId)> NextAsync()
        {
            if (pending.TryDequeue(out var queued))
            {
                return (queued.ToCommand(), queued.Id);
            }

            commandWait ??= context.WaitForExternalEvent<CommandEnvelope>(CommandEvent);
            ArmIdleTimer();

            var waits = new List<Task>(steps.Count + 2) { commandWait };
            waits.AddRange(steps.Keys);
            if (idleTimer is not null)
            {
                waits.Add(idleTimer);
            }

            var winner = await Task.WhenAny(waits);
            if (winner == commandWait)
            {
                var envelope = commandWait.Result;
                commandWait = null;
                return (envelope.ToCommand(), envelope.Id);
            }

            if (winner is Task<StepOutcome> step && steps.Remove(step, out var request))
            {
                var outcome = step.Result;
                SessionCommand command = outcome.Result is { } result
                    ? new CompleteStep(request.TaskNumber, request.StepNumber, result)
                    : new FailStep(request.TaskNumber, request.StepNumber, outcome.Error ?? "unknown error");
                return (command, null);
            }

            // The idle timer fired; activity since it was armed moves the deadline instead.
            idleTimer = null;
            return context.CurrentUtcDateTime >= IdleDeadline
                ? (new ExpireSession(input.Settings.IdleTimeout), null)
                : (null, null);
        }

        private DateTime IdleDeadline => (state.LastActivityAt + input.Settings.IdleTimeout).UtcDateTime;

        private void ArmIdleTimer()
        {
            if (idleTimer is null && !state.Dormant && !state.Deleted)
            {
                idleTimer = context.CreateTimer(IdleDeadline, timerCancellation.Token);
            }
        }

        private async Task<StepOutcome> RunStepAsync(StepRequest request)
        {
            try
            {
                var result = await context.CallActivityAsync<AgentStepResult>(RunAgentStepActivity.Name,
                    request with { InstanceId = context.InstanceId, LastMessageId = state.LastMessageId }, AgentRetry.Policy);
                return new StepOutcome(result, null);
            }
            catch (TaskFailedException failure)
            {
                return new StepOutcome(null, failure.FailureDetails.ErrorMessage);
            }
        }

        private void Record(string commandId, CommandOutcome outcome)
        {
            var status = state.VisibleStatus.ToWire();
            var result = outcome switch
            {
                RejectedOutcome rejected => new CommandResult(commandId, "rejected", rejected.Code, rejected.Message, status),
                IgnoredOutcome => new CommandResult(commandId, "ignored", null, null, status),
                _ => new CommandResult(commandId, "accepted", null, null, status),
            };
            results = results.Add(result);
            counts = new CommandCounts(counts.Applied + 1, counts.Rejected + (outcome is RejectedOutcome ? 1 : 0));
            if (results.Count > SessionView.MaxResults)
            {
                results = results.RemoveRange(0, results.Count - SessionView.MaxResults);
            }
        }

        /// <summary>
        /// Hands notices to the session's webhook dispatcher. A one-way event, so a slow or dead
        /// receiver never holds the session up; events from one orchestration arrive in order.
        /// </summary>
        private void Notify(IReadOnlyList<SessionNotice> notices)
        {
            if (input.Settings.WebhookUrl is null)
            {
                return;
            }

            var dispatcher = WebhookDispatch.InstanceId(context.InstanceId);
            foreach (var notice in notices)
            {
                context.SendEvent(dispatcher, WebhookDispatch.EventName,
                    new WebhookEvent(notice.Event, context.CurrentUtcDateTime, state.SessionId, notice.Data));
            }
        }

        private void Publish() => context.SetCustomStatus(SessionView.From(state, results, counts));

        /// <summary>
        /// The next generation's input, carrying every command that has already arrived. Events
        /// the runtime buffered but no waiter consumed are taken here and passed on in the input,
        /// rather than trusting the runtime to carry them over ContinueAsNew.
        /// </summary>
        private SessionInput NextGeneration()
        {
            var carried = new List<CommandEnvelope>(pending);
            if (commandWait is { IsCompleted: true })
            {
                carried.Add(commandWait.Result);
            }

            if (commandWait is null || commandWait.IsCompleted)
            {
                // A buffered event completes its waiter synchronously; the first waiter that does
                // not complete means the buffer is empty.
                for (var drained = 0; drained < MaxDrainedCommands; drained++)
                {
                    var buffered = context.WaitForExternalEvent<CommandEnvelope>(CommandEvent);
                    if (!buffered.IsCompleted)
                    {
                        break;
                    }

                    carried.Add(buffered.Result);
                }
            }

            return input with { State = state, Pending = [.. carried], Results = results, Generation = input.Generation + 1, Counts = counts };
        }
    }

    private sealed record StepOutcome(AgentStepResult? Result, string? Error);
}
