using AgentSessions.Functions.Tests.Infrastructure;
using AgentSessions.Testing;
using Microsoft.DurableTask;
using Microsoft.DurableTask.Client;

namespace AgentSessions.Functions.Tests.Engines;

/// <summary>
/// The test engines apply the Functions host's rule on custom status size, so a test fails where the app under a
/// real host would: over 16 KB of UTF-16 fails the orchestration, with the host's message.
/// </summary>
public abstract class HostRulesTests(AzuriteFixture azurite)
{
    [Collection(AzuriteFixture.CollectionName)]
    public sealed class InMemory(AzuriteFixture azurite) : HostRulesTests(azurite)
    {
    }

    [Collection(AzureStorageFixture.CollectionName)]
    public sealed class OnAzureStorage(AzureStorageFixture azurite) : HostRulesTests(azurite)
    {
    }

    private const string Name = "PublishThenWait";

    // A JSON string of n characters is n + 2 characters, 2 bytes each: 8,190 fits in 16 KB (16,384 bytes), 8,191 does not.
    [Theory]
    [InlineData(8_190, OrchestrationRuntimeStatus.Running)]
    [InlineData(8_191, OrchestrationRuntimeStatus.Failed)]
    public async Task CustomStatus_Over16KilobytesOfUtf16_FailsTheOrchestration(int characters, OrchestrationRuntimeStatus expected)
    {
        await using var engine = await DurableEngine.StartAsync(new DurableEngineOptions(azurite.Engine, azurite.ConnectionString), registry =>
            registry.AddOrchestratorFunc<int, string>(Name, async (context, length) =>
            {
                context.SetCustomStatus(new string('x', length));
                return await context.WaitForExternalEvent<string>("never");
            }));

        var id = await engine.Client.ScheduleNewOrchestrationInstanceAsync(Name, characters);
        var metadata = await Eventually.ValueAsync(() => engine.Client.GetInstanceAsync(id, getInputsAndOutputs: true)!,
            m => m is { RuntimeStatus: OrchestrationRuntimeStatus.Failed } or { SerializedCustomStatus: not null }, null, "the first episode");

        Assert.Equal(expected, metadata!.RuntimeStatus);
        if (expected == OrchestrationRuntimeStatus.Failed)
        {
            Assert.Contains("CustomStatus is too large: limit = 16 KB (UTF-16), actual = 16.00 KB.", metadata.SerializedOutput, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void CustomStatusRule_CountsUtf16Bytes()
    {
        // Not UTF-8: a character outside the BMP is two UTF-16 units, four bytes.
        Assert.Null(HostRulesGrpcServer.CustomStatusProblem(new string('é', 8192)));
        Assert.NotNull(HostRulesGrpcServer.CustomStatusProblem(string.Concat(Enumerable.Repeat("😀", 4097))));
    }
}
