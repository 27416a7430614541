using AgentSessions.Functions.Tests.Infrastructure;
using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Agents;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Testing;

namespace AgentSessions.Functions.Tests.Agents;

/// <summary>
/// <see cref="AgentRetry"/> on the in-process Durable engine: a small orchestration runs the real step activity
/// through <see cref="AgentStepRunner"/> against a real listener, as the session orchestration does.
/// </summary>
public sealed class AgentRetryTests : IAsyncLifetime
{
    private const string Orchestration = "AgentRetryProbe";
    // No deadline: what current generations run (older ones replay theirs, see SessionInput.UntimedStepsLoopVersion).
    private static readonly StepRunPolicy FastRetry = StepRunPolicy.For(null) with
    {
        FirstRetryInterval = TimeSpan.FromMilliseconds(100),
        MaxRetryInterval = TimeSpan.FromMilliseconds(400),
    };

    private FakeAgentServer server = null!;
    private DurableTaskTestHost host = null!;

    public async Task InitializeAsync()
    {
        server = await FakeAgentServer.StartAsync();
        var resolver = new AgentResolver(new AgentCatalog([server.Agent()]), TimeProvider.System, server.HttpClients);
        host = await DurableTestHosts.StartAsync(registry =>
        {
            registry.AddOrchestratorFunc<StepRequest, string>(Orchestration, async (context, request) =>
            {
                var outcome = await AgentStepRunner.RunAsync(context, request, FastRetry);
                return outcome.Result is { } result ? "ok:" + result.Status : "failed:" + outcome.Error;
            });
            registry.AddActivityFunc<StepRequest, AgentStepResult>(RunAgentStepActivity.Name,
                (context, request) => new RunAgentStepActivity(resolver).RunAsync(request, CancellationToken.None));
        });
    }

    public async Task DisposeAsync()
    {
        await host.DisposeAsync();
        await server.DisposeAsync();
    }

    private static StepRequest Request() => new("s-1", "remote", 1, 1, 10, "task", null, []);

    private async Task<string> RunAsync()
    {
        var id = await host.Client.ScheduleNewOrchestrationInstanceAsync(Orchestration, Request());
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var done = await host.Client.WaitForInstanceCompletionAsync(id, getInputsAndOutputs: true, deadline.Token);
        Assert.Equal(OrchestrationRuntimeStatus.Completed, done.RuntimeStatus);
        return done.ReadOutputAs<string>()!;
    }

    [Fact]
    public async Task TransientFailures_AreRetried_UntilTheAgentAnswers()
    {
        server.Respond = (_, context) => server.Requests.Count < 3
            ? FakeAgentServer.Text(context, 503, "warming up")
            : FakeAgentServer.Json(context, 200, """{"status":"finished","messages":[]}""");

        Assert.Equal("ok:Finished", await RunAsync());
        Assert.Equal(3, server.Requests.Count);
    }

    [Fact]
    public async Task AnEndpointThatKeepsFailing_FailsTheStep_AfterMaxAttempts()
    {
        server.Respond = (_, context) => FakeAgentServer.Text(context, 500, "boom");

        var outcome = await RunAsync();

        Assert.Equal("failed:Agent 'remote' answered the step call with HTTP 500 (Internal Server Error): boom", outcome);
        Assert.Equal(AgentRetry.MaxAttempts, server.Requests.Count);
    }

    [Fact]
    public async Task PermanentFailures_AreNotRetried()
    {
        server.Respond = (_, context) => FakeAgentServer.Json(context, 200, """{"status":"done"}""");

        var outcome = await RunAsync();

        Assert.StartsWith("failed:Agent 'remote' returned an invalid step response: \"status\" is 'done'", outcome);
        Assert.Single(server.Requests);
    }

    [Fact]
    public async Task ClientErrors_AreNotRetried()
    {
        server.Respond = (_, context) => FakeAgentServer.Text(context, 401, "who are you");

        var outcome = await RunAsync();

        Assert.Equal("failed:Agent 'remote' answered the step call with HTTP 401 (Unauthorized): who are you", outcome);
        Assert.Single(server.Requests);
    }

    [Fact]
    public void Policy_HasTheAgreedNumbers()
    {
        var policy = StepRunPolicy.For(TimeSpan.FromSeconds(40));

        Assert.Equal(4, policy.MaxAttempts);
        Assert.Equal(TimeSpan.FromSeconds(1), policy.FirstRetryInterval);
        Assert.Equal(2, AgentRetry.BackoffCoefficient);
        Assert.Equal(TimeSpan.FromSeconds(15), policy.MaxRetryInterval);
        Assert.Equal([TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(8), TimeSpan.FromSeconds(15)],
            Enumerable.Range(1, 5).Select(retry => AgentRetry.Delay(retry, policy.FirstRetryInterval, policy.MaxRetryInterval)));
    }

    [Fact]
    public void IsTransient_MatchesTheTransientTypeOnly_DirectlyNestedOrNamedInAWrappersMessage()
    {
        var transient = typeof(AgentTransientException).FullName!;
        Assert.True(AgentRetry.IsTransient(new TaskFailureDetails(transient, "x", null, null, null)));
        Assert.True(AgentRetry.IsTransient(new TaskFailureDetails("Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException", "wrapped", null,
            new TaskFailureDetails(transient, "x", null, null, null), null)));
        Assert.True(AgentRetry.IsTransient(new TaskFailureDetails("Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException",
            $"Result: Failure\nException: {transient}: Agent 'a' did not answer", null, null, null)));

        Assert.False(AgentRetry.IsTransient(new TaskFailureDetails(typeof(AgentPermanentException).FullName!, "x", null, null, null)));
        Assert.False(AgentRetry.IsTransient(new TaskFailureDetails(typeof(InvalidOperationException).FullName!, "x", null, null, null)));
        Assert.False(AgentRetry.IsTransient(null));
    }
}
