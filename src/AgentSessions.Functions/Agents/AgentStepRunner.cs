using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;
using Microsoft.DurableTask;

namespace AgentSessions.Functions.Agents;

/// <summary>How one agent step is run: its retries (defaults: <see cref="AgentRetry"/>) and, for generations started
/// before <see cref="Sessions.SessionInput.UntimedStepsLoopVersion"/>, a deadline per attempt.</summary>
/// <param name="Deadline">Only for generations that were started with one (they replay as they ran): how long an attempt
/// may go without reporting back before it is run again. Later generations race no timer against a step. A step
/// whose worker died comes back through the work-item queue within its visibility timeout (host.json), which the
/// host renews while the step runs; and a timer left pending at a ContinueAsNew fires into the next generation, where
/// the Azure Storage provider returns it to the queue as out of order, again and again, and can drop a command that
/// arrives with it.</param>
/// <param name="MaxReruns">Attempts run again because they passed the deadline, before the step is given up.</param>
public sealed record StepRunPolicy(
    TimeSpan? Deadline,
    int MaxAttempts,
    TimeSpan FirstRetryInterval,
    TimeSpan MaxRetryInterval,
    int MaxReruns = StepRunPolicy.DefaultMaxReruns)
{
    public const int DefaultMaxReruns = 3;

    public static StepRunPolicy For(TimeSpan? deadline) =>
        new(deadline, AgentRetry.MaxAttempts, AgentRetry.FirstRetryInterval, AgentRetry.MaxRetryInterval);
}

/// <summary>What came of a step: the agent's result, or why there is none.</summary>
public sealed record StepOutcome(AgentStepResult? Result, string? Error);

/// <summary>
/// Runs one agent step from an orchestration. Transient failures are retried with backoff; anything else ends the
/// step at once. With a deadline in the policy (older generations), each attempt also races a durable timer: when the
/// timer wins, the same (task, step) is run again (agents treat that pair as an idempotency key), and a late answer
/// of the earlier attempt is simply not awaited.
/// </summary>
public static class AgentStepRunner
{
    public static async Task<StepOutcome> RunAsync(TaskOrchestrationContext context, StepRequest request, StepRunPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(policy);
        var failures = 0;
        var reruns = 0;
        // Every pass either ends the step or uses up one retry or one rerun, so the loop is bounded by their sum.
        for (var pass = 0; pass < policy.MaxAttempts + policy.MaxReruns; pass++)
        {
            var attempt = context.CallActivityAsync<AgentStepResult>(RunAgentStepActivity.Name, request);
            if (policy.Deadline is { } within)
            {
                using var deadline = new CancellationTokenSource();
                var timer = context.CreateTimer(context.CurrentUtcDateTime + within, deadline.Token);
                if (await Task.WhenAny(attempt, timer) != attempt)
                {
                    if (++reruns > policy.MaxReruns)
                    {
                        return new StepOutcome(null,
                            $"the agent did not report back within {within.TotalSeconds:0.#} s, {reruns} times in a row");
                    }

                    continue;
                }

                deadline.Cancel();
            }

            try
            {
                return new StepOutcome(await attempt, null);
            }
            catch (TaskFailedException failure) when (AgentRetry.IsTransient(failure.FailureDetails) && ++failures < policy.MaxAttempts)
            {
                await context.CreateTimer(AgentRetry.Delay(failures, policy.FirstRetryInterval, policy.MaxRetryInterval), CancellationToken.None);
            }
            catch (TaskFailedException failure)
            {
                return new StepOutcome(null, failure.FailureDetails.ErrorMessage);
            }
        }

        return new StepOutcome(null, "the agent step was retried as often as allowed");
    }
}
