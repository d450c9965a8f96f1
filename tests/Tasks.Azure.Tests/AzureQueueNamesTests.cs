namespace Tasks.Azure.Tests;

/// <summary>The analyzer checks a transport-neutral queue name; only the host knows the prefix, so Azure checks the full name.</summary>
public sealed class AzureQueueNamesTests
{
    [Theory]
    [InlineData("Shop-", "orders", "lowercase")]
    [InlineData("shop--", "orders", "double hyphens")]
    [InlineData("a-prefix-long-enough-to-push-the-poison-queue-past-63-", "orders", "3 to 56 characters")]
    public void A_prefix_that_makes_an_invalid_azure_name_is_refused_with_the_rule_it_breaks(string prefix, string queue, string rule)
    {
        var transport = new AzureQueueTransport(new AzureQueueOptions { ConnectionString = "UseDevelopmentStorage=true", QueuePrefix = prefix });

        var error = Assert.Throws<ArgumentException>(() => transport.QueueName(queue));

        Assert.Contains(rule, error.Message);
        Assert.Contains($"'{queue}'", error.Message);
    }

    [Fact]
    public void A_valid_prefix_names_the_queue_and_its_poison_queue()
    {
        var transport = new AzureQueueTransport(new AzureQueueOptions { ConnectionString = "UseDevelopmentStorage=true", QueuePrefix = "shop-" });

        Assert.Equal("shop-orders", transport.QueueName("orders"));
        Assert.Equal("shop-orders-poison", transport.PoisonQueueName("orders"));
    }
}
