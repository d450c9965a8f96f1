using MessagePack;

namespace Tasks.Core.Tests;

public enum Currency { Eur, Usd }

// No attribute on any of these: the generator writes their formatters.
public readonly record struct Money(decimal Amount, Currency Currency = Currency.Usd);

public sealed record OrderLine(string Sku, int Quantity, Money Price);

public record PlainOrder(Guid Id, List<OrderLine> Lines)
{
    public string? Note { get; init; }

    public decimal Total => Lines.Sum(l => l.Price.Amount * l.Quantity);
}

public sealed record RushOrder(Guid Id, List<OrderLine> Lines, int Priority) : PlainOrder(Id, Lines);

public sealed class ShippingAddress
{
    public string Street { get; set; } = "";

    public string? City { get; set; }

    public int[]? Floors;
}

public sealed class Category(string name, Category? parent)
{
    public string Name { get; } = name;

    public Category? Parent { get; } = parent;
}

public static partial class PlainTypeTasks
{
    public const string Queue = "plain-types";

    public static readonly List<object?[]> Received = [];

    [AsyncTask(Queue = Queue)]
    public static Task Place(CancellationToken cancellationToken, PlainOrder order, ShippingAddress shipTo, Dictionary<string, Money[]> discounts, RushOrder? rush, Category category)
    {
        lock (Received) Received.Add([order, shipTo, discounts, rush, category]);
        return Task.CompletedTask;
    }
}

/// <summary>Records, classes and structs with no attribute, through a worker, and decoded from older and newer shapes.</summary>
public sealed class PlainTypeTests
{
    private static readonly MessagePackSerializerOptions Options = TaskSerializer.DefaultOptions;

    [Fact]
    public async Task Records_classes_and_structs_without_attributes_reach_the_method_whole()
    {
        PlainTypeTasks.Received.Clear();
        await using var h = new Harness(o =>
        {
            o.Queues.Clear();
            o.Queues.Add(PlainTypeTasks.Queue);
        });
        var order = new PlainOrder(Guid.NewGuid(), [new("book", 2, new Money(12.5m)), new("pen", 10, new Money(1.2m, Currency.Eur))]) { Note = "gift" };
        var address = new ShippingAddress { Street = "1 Main St", City = null, Floors = [0, 3] };
        var discounts = new Dictionary<string, Money[]> { ["spring"] = [new Money(5m, Currency.Eur)], ["none"] = [] };
        var category = new Category("pens", new Category("office", null));

        await PlainTypeTasks.PlaceAsync.Enqueue(h.Client, order, address, discounts, null, category);
        Assert.Equal(1, await h.Worker.RunOnceAsync());

        Assert.Equal(TaskOutcome.Completed, Assert.Single(h.Results).Outcome);
        var received = Assert.Single(PlainTypeTasks.Received);
        var receivedOrder = Assert.IsType<PlainOrder>(received[0]);
        Assert.Equal((order.Id, "gift", 37m), (receivedOrder.Id, receivedOrder.Note, receivedOrder.Total));
        Assert.Equal(order.Lines, receivedOrder.Lines);
        var receivedAddress = Assert.IsType<ShippingAddress>(received[1]);
        Assert.Equal(("1 Main St", null), (receivedAddress.Street, receivedAddress.City));
        Assert.Equal([0, 3], receivedAddress.Floors!);
        var receivedDiscounts = Assert.IsType<Dictionary<string, Money[]>>(received[2]);
        Assert.Equal(discounts.Keys.Order(), receivedDiscounts.Keys.Order());
        Assert.Equal(new Money(5m, Currency.Eur), Assert.Single(receivedDiscounts["spring"]));
        Assert.Null(received[3]);
        var receivedCategory = Assert.IsType<Category>(received[4]);
        Assert.Equal(("pens", "office", null), (receivedCategory.Name, receivedCategory.Parent!.Name, receivedCategory.Parent.Parent));
    }

    [Fact]
    public void The_wire_order_is_constructor_parameters_then_settable_members_base_type_first()
    {
        var rush = new RushOrder(Guid.Empty, [], 3) { Note = "asap" };

        var json = MessagePackSerializer.ConvertToJson(MessagePackSerializer.Serialize(rush, Options), Options);

        Assert.Equal("""["00000000-0000-0000-0000-000000000000",[],3,"asap"]""", json);
    }

    [Fact]
    public void A_message_written_before_a_member_was_appended_decodes_with_its_default_and_one_written_after_skips_it()
    {
        // Money as an older version wrote it: only the amount. The constructor's default fills the currency.
        var older = Write((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(1);
            w.Write("12.5");
        });
        Assert.Equal(new Money(12.5m, Currency.Usd), MessagePackSerializer.Deserialize<Money>(older, Options));

        // An OrderLine as a newer version writes it, with a member appended: it is skipped.
        var newer = Write((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(4);
            w.Write("book");
            w.Write(2);
            w.WriteArrayHeader(2);
            w.Write("3");
            w.Write(1);
            w.Write("a member added later");
        });
        Assert.Equal(new OrderLine("book", 2, new Money(3m, Currency.Usd)), MessagePackSerializer.Deserialize<OrderLine>(newer, Options));

        // A settable member missing from the message keeps the value the type gives it.
        var noCity = Write((ref MessagePackWriter w) =>
        {
            w.WriteArrayHeader(1);
            w.Write("2 High St");
        });
        var address = MessagePackSerializer.Deserialize<ShippingAddress>(noCity, Options);
        Assert.Equal(("2 High St", null), (address.Street, address.City));
    }

    private delegate void Writing(ref MessagePackWriter writer);

    private static byte[] Write(Writing write)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        var writer = new MessagePackWriter(buffer);
        write(ref writer);
        writer.Flush();
        return buffer.WrittenSpan.ToArray();
    }
}
