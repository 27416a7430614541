using AgentSessions.Functions.Tests.Infrastructure;
using AgentSessions.Core.Agents;
using AgentSessions.Core.Sessions;
using AgentSessions.Functions.Agents;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Testing;

namespace AgentSessions.Functions.Tests.Agents;

/// <summary>
/// <see cref="AgentRetry"/> on the in-process Durable engine: a small orchestration calls the real step activity
/// against a real listener with the retry options, as the session orchestration is meant to.
/// </summary>
public sealed class AgentRetryTests : IAsyncLifetime
{
    private const string Orchestration = "AgentRetryProbe";
    private static readonly TaskOptions FastRetry = AgentRetry.Create(AgentRetry.MaxAttempts, TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(400));

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
                try
                {
                    var result = await context.CallActivityAsync<AgentStepResult>(RunAgentStepActivity.Name, request, FastRetry);
                    return "ok:" + result.Status;
                }
                catch (TaskFailedException failure)
                {
                    return "failed:" + failure.FailureDetails.ErrorMessage;
                }
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
        var policy = AgentRetry.Policy.Retry!.Policy!;

        Assert.Equal(4, policy.MaxNumberOfAttempts);
        Assert.Equal(TimeSpan.FromSeconds(1), policy.FirstRetryInterval);
        Assert.Equal(2, policy.BackoffCoefficient);
        Assert.Equal(TimeSpan.FromSeconds(15), policy.MaxRetryInterval);
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
