using System.Collections.Immutable;
using AgentSessions.Functions.Sessions;
using Microsoft.DurableTask;

namespace AgentSessions.Bench.InProcess;

/// <summary>
/// The reference: an orchestration that only waits for the command event and publishes the ids of the
/// commands it has seen as its custom status, so a client acknowledges a command exactly as it does with
/// the session orchestration. Like any eternal orchestration it continues as new after a fixed number of
/// events (the session's generation size), or its history, and so each replay, would grow without bound.
/// </summary>
public static class BareOrchestration
{
    public const string Name = "BareReferenceOrchestration";

    public sealed record Input(ImmutableList<string> Recent, int EventsPerGeneration);

    public sealed record Status(ImmutableList<string> Recent);

    public static async Task<string> RunAsync(TaskOrchestrationContext context, Input input)
    {
        var recent = input.Recent;
        context.SetCustomStatus(new Status(recent));
        for (var i = 0; i < input.EventsPerGeneration; i++)
        {
            var command = await context.WaitForExternalEvent<CommandEnvelope>(SessionOrchestration.CommandEvent);
            if (command.Kind == CommandEnvelope.Delete)
            {
                return "deleted";
            }

            recent = recent.Add(command.Id);
            if (recent.Count > SessionStatusSnapshot.MaxResults)
            {
                recent = recent.RemoveRange(0, recent.Count - SessionStatusSnapshot.MaxResults);
            }

            context.SetCustomStatus(new Status(recent));
        }

        context.ContinueAsNew(input with { Recent = recent }, preserveUnprocessedEvents: true);
        return "continued";
    }
}
